# ctest packaging.consumer: installs sublens's C++ package from the build tree, moves the prefix
# (the package must be relocatable), then builds main.cpp against the moved prefix only, once with
# CMake (find_package) and once with pkg-config, and runs both programs.
#   cmake -DBUILD_DIR=<sublens build> -DSOURCE_DIR=<sublens source> -DWORK_DIR=<scratch>
#         -DGENERATOR=<gen> -DCXX=<compiler> [-DLAUNCHER=ccache] -DPKG_CONFIG=<pkg-config> -P run.cmake
cmake_minimum_required(VERSION 3.25)
foreach(var BUILD_DIR SOURCE_DIR WORK_DIR GENERATOR CXX PKG_CONFIG)
  if(NOT ${var})
    message(FATAL_ERROR "run.cmake: -D${var}=... is required")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    list(JOIN ARGN " " command)
    message(FATAL_ERROR "consumer: failed (${status}): ${command}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(staged ${WORK_DIR}/staged)
set(prefix ${WORK_DIR}/moved)
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${staged} --component sublens_Development)
file(RENAME ${staged} ${prefix})

# Nothing installed may point back into the source tree, the build tree or the first prefix.
file(GLOB_RECURSE package_files ${prefix}/*.cmake ${prefix}/*.pc)
foreach(file IN LISTS package_files)
  file(READ ${file} text)
  foreach(tree ${SOURCE_DIR} ${BUILD_DIR} ${staged})
    string(FIND "${text}" "${tree}" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR "consumer: ${file} names ${tree}: the package is not relocatable")
    endif()
  endforeach()
endforeach()

# CMake: find_package(sublens) from the prefix and nowhere else.
set(consumer ${SOURCE_DIR}/tests/consumer)
set(launcher)
if(LAUNCHER)
  set(launcher -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
endif()
run(${CMAKE_COMMAND} -S ${consumer} -B ${WORK_DIR}/build -G ${GENERATOR} -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_CXX_COMPILER=${CXX} ${launcher} -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/app)

# pkg-config: the flags of the moved prefix's sublens.pc.
file(GLOB pc_dirs ${prefix}/lib*/pkgconfig ${prefix}/lib/*/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "${pc_dirs}")
execute_process(COMMAND ${PKG_CONFIG} --cflags --libs sublens OUTPUT_VARIABLE flags
                RESULT_VARIABLE status OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "consumer: pkg-config --cflags --libs sublens failed")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
run(${LAUNCHER} ${CXX} -std=c++20 -O2 ${consumer}/main.cpp ${flags} -o ${WORK_DIR}/app-pkg-config)
run(${WORK_DIR}/app-pkg-config)
