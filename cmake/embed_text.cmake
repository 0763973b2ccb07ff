# Writes a C++ source defining `std::string_view <NAME>` with the contents of INPUT, as a raw
# string literal. Run at build time: cmake -DINPUT=... -DOUTPUT=... -DNAME=... -DNAMESPACE=...
file(READ "${INPUT}" content)
string(FIND "${content}" ")embedded\"" clash)
if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${INPUT} contains the raw string delimiter )embedded\"")
endif()
file(WRITE "${OUTPUT}.tmp"
    "// Generated from ${INPUT} by cmake/embed_text.cmake; do not edit.\n"
    "#include <string_view>\n"
    "namespace ${NAMESPACE} {\n"
    "extern const std::string_view ${NAME};\n"
    "const std::string_view ${NAME} = R\"embedded(${content})embedded\";\n"
    "}\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
