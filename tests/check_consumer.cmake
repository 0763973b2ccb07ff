# Installs the build tree at BUILD_DIR into WORK_DIR/prefix, builds examples/consumer against it
# (find_package and pkg-config), and runs the result. Any failing step fails the test.
file(REMOVE_RECURSE "${WORK_DIR}")

function(run)
    execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        list(JOIN ARGV " " cmd)
        message(FATAL_ERROR "step failed (${rc}): ${cmd}")
    endif()
endfunction()

run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK_DIR}/prefix")
# Everything stays under the prefix: the packaged configuration too (in /etc only under /usr).
file(STRINGS "${BUILD_DIR}/install_manifest.txt" installed)
foreach(path IN LISTS installed)
    if(NOT path MATCHES "^${WORK_DIR}/prefix/")
        message(FATAL_ERROR "installed outside the prefix: ${path}")
    endif()
endforeach()
if(NOT EXISTS "${WORK_DIR}/prefix/etc/redpacketd/redpacketd.json")
    message(FATAL_ERROR "the packaged configuration is not in <prefix>/etc/redpacketd")
endif()
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/examples/consumer" -B "${WORK_DIR}/build" -G Ninja
    "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix")
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
run("${WORK_DIR}/build/consumer")

# The pkg-config file must describe a working compile and link line too. The library is static
# only, so its private dependencies (ISA-L) belong on the link line: --static.
set(ENV{PKG_CONFIG_PATH} "${WORK_DIR}/prefix/${LIBDIR}/pkgconfig")
execute_process(COMMAND pkg-config --static --cflags --libs redpacket-client redpacket
    OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config does not know redpacket")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
run(c++ "${SOURCE_DIR}/examples/consumer/main.cpp" ${flags} -o "${WORK_DIR}/consumer-pc")
run("${WORK_DIR}/consumer-pc")
