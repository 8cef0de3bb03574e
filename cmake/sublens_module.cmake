# sublens_add_test(NAME target SOURCES ... LIBS ... [LABELS ...])
# One gtest executable per module; every TEST is registered with ctest via gtest_discover_tests.
function(sublens_add_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT SUBLENS_BUILD_TESTS)
    return()
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  target_compile_definitions(${T_NAME} PRIVATE
    SUBLENS_SOURCE_DIR="${PROJECT_SOURCE_DIR}" SUBLENS_PYTHON="${SUBLENS_PYTHON}")
  gtest_discover_tests(${T_NAME} PROPERTIES LABELS "${T_LABELS}" DISCOVERY_TIMEOUT 60)
endfunction()
