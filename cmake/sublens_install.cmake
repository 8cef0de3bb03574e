# `cmake --install <build> [--prefix P]`: sublens as a relocatable C++ package, the way consumers
# of fmt or Ceres get theirs:
#   find_package(sublens CONFIG REQUIRED)        # lib/cmake/sublens/sublensConfig.cmake
#   target_link_libraries(app PRIVATE sublens::ssc)
# or `pkg-config --cflags --libs sublens`. The libraries are static by default, so the config also
# finds what they link privately (libzip, igraph, ...). Components: sublens_Development (libraries,
# headers, CMake and pkg-config files), sublens_Runtime (the CLI); `python` (the extension, for
# setup.py) is only installed when asked for by name.
# tests/consumer builds a program against the installed package.
include(CMakePackageConfigHelpers)

# The exported libraries, each one after every library it links (the order of sublens.pc's Libs).
# sublens_models (LibTorch) is not exported: its users build sublens themselves.
set(SUBLENS_EXPORTED_MODULES study report model_names factor graph ssc similarity io core)

set(SUBLENS_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/sublens)
set(SUBLENS_INSTALL_PKGCONFIGDIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

set(_sublens_targets)
set(_sublens_libs)
foreach(module IN LISTS SUBLENS_EXPORTED_MODULES)
  # sublens_ssc is sublens::ssc both in this build tree (alias) and once installed.
  set_target_properties(sublens_${module} PROPERTIES EXPORT_NAME ${module})
  add_library(sublens::${module} ALIAS sublens_${module})
  list(APPEND _sublens_targets sublens_${module})
  string(APPEND _sublens_libs " -l$<TARGET_FILE_BASE_NAME:sublens_${module}>")
endforeach()

install(TARGETS ${_sublens_targets} EXPORT sublensTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT sublens_Development
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT sublens_Runtime
                NAMELINK_COMPONENT sublens_Development
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT sublens_Runtime)
# Public headers of the exported libraries (models/zoo.hpp includes LibTorch: not exported) and
# the generated version.hpp.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/sublens
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT sublens_Development
        FILES_MATCHING PATTERN "*.hpp" PATTERN "zoo.hpp" EXCLUDE)
install(FILES ${PROJECT_BINARY_DIR}/include/sublens/version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/sublens COMPONENT sublens_Development)

install(EXPORT sublensTargets NAMESPACE sublens:: DESTINATION ${SUBLENS_INSTALL_CMAKEDIR}
        FILE sublensTargets.cmake COMPONENT sublens_Development)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/sublensConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/sublensConfig.cmake
                              INSTALL_DESTINATION ${SUBLENS_INSTALL_CMAKEDIR})
# 0.x: a minor release may change the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/sublensConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/sublensConfig.cmake
              ${PROJECT_BINARY_DIR}/sublensConfigVersion.cmake
        DESTINATION ${SUBLENS_INSTALL_CMAKEDIR} COMPONENT sublens_Development)

# sublens.pc, relocatable: its prefix is found from its own place (${pcfiledir}). The pkg-config
# names of the dependencies sublensConfig.cmake finds with CMake: the ones the headers need, then
# the ones only the static libraries link (Requires.private when the libraries are shared).
set(_sublens_pc_public "eigen3 nlohmann_json openblas")
set(_sublens_pc_linked "libzip zlib libpng igraph tomlplusplus")
if(BUILD_SHARED_LIBS)
  set(SUBLENS_PC_REQUIRES "${_sublens_pc_public}")
  set(SUBLENS_PC_REQUIRES_PRIVATE "${_sublens_pc_linked}")
else()
  set(SUBLENS_PC_REQUIRES "${_sublens_pc_public} ${_sublens_pc_linked}")
  set(SUBLENS_PC_REQUIRES_PRIVATE "")
endif()
file(RELATIVE_PATH SUBLENS_PC_PREFIX_FROM_PCDIR
     /${SUBLENS_INSTALL_PKGCONFIGDIR} /)
string(REGEX REPLACE "/$" "" SUBLENS_PC_PREFIX_FROM_PCDIR "${SUBLENS_PC_PREFIX_FROM_PCDIR}")  # ../..
set(SUBLENS_PC_LIBS "${_sublens_libs}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/sublens.pc.in ${PROJECT_BINARY_DIR}/sublens.pc.gen @ONLY)
file(GENERATE OUTPUT ${PROJECT_BINARY_DIR}/sublens.pc INPUT ${PROJECT_BINARY_DIR}/sublens.pc.gen)
install(FILES ${PROJECT_BINARY_DIR}/sublens.pc DESTINATION ${SUBLENS_INSTALL_PKGCONFIGDIR}
        COMPONENT sublens_Development)

# The CLI (and its LibTorch companion, which it looks for beside itself).
install(TARGETS sublens RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT sublens_Runtime)
if(TARGET sublens-torch)
  install(TARGETS sublens-torch RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
          COMPONENT sublens_Runtime)
endif()
