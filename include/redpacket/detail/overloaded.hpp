// Overloaded: a visitor made of lambdas, for std::visit over this project's variants.
#pragma once

namespace redpacket::detail {

template <class... Ts>
struct Overloaded : Ts... {
    using Ts::operator()...;
};

}  // namespace redpacket::detail
