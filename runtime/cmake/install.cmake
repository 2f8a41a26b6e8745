# Installation for app developers (included by runtime/CMakeLists.txt):
#   cmake --install build-rt --prefix /opt/lkrt
# gives lib/liblkrt.a, include/lkrt.h, lkrt_code.h, lkrt_ops.h, lkrt_wallpaper.h, lkrt_writer.h, bin/lkrt,
# lib/cmake/lkrt/ (find_package(lkrt) -> lkrt::lkrt) and lib/pkgconfig/lkrt.pc.
# Everything is in the component "lkrt" (cmake --install ... --component lkrt).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set_target_properties(lkrt PROPERTIES EXPORT_NAME lkrt)
install(TARGETS lkrt EXPORT lkrtTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT lkrt
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS lkrt_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT lkrt)
install(FILES include/lkrt.h include/lkrt_code.h include/lkrt_ops.h include/lkrt_wallpaper.h include/lkrt_writer.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT lkrt)

set(LKRT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/lkrt)
install(EXPORT lkrtTargets NAMESPACE lkrt:: DESTINATION ${LKRT_CMAKE_DIR} COMPONENT lkrt)
configure_package_config_file(cmake/lkrtConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/lkrtConfig.cmake
                              INSTALL_DESTINATION ${LKRT_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/lkrtConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/lkrtConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/lkrtConfigVersion.cmake
        DESTINATION ${LKRT_CMAKE_DIR} COMPONENT lkrt)

# lkrt.pc. lkrt is a static C++ library, so Libs carries what a C program must add to
# link it: the C++ compiler's libraries that the C compiler does not link (libstdc++ and
# libm with GCC) and the thread library where the platform has one apart from libc.
set(cxx_only ${CMAKE_CXX_IMPLICIT_LINK_LIBRARIES})
list(REMOVE_DUPLICATES cxx_only)
set(LKRT_PC_LIBS "")
foreach(lib IN LISTS cxx_only)
  if(NOT lib IN_LIST CMAKE_C_IMPLICIT_LINK_LIBRARIES)
    string(APPEND LKRT_PC_LIBS " -l${lib}")
  endif()
endforeach()
if(LKRT_THREADS AND CMAKE_THREAD_LIBS_INIT)
  string(APPEND LKRT_PC_LIBS " ${CMAKE_THREAD_LIBS_INIT}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(LKRT_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  set(LKRT_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(LKRT_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(LKRT_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# Two passes: the prefix is the one cmake --install runs with (--prefix), known only then.
set(LKRT_PC_PREFIX "@CMAKE_INSTALL_PREFIX@")
configure_file(cmake/lkrt.pc.in ${CMAKE_CURRENT_BINARY_DIR}/lkrt.pc.in @ONLY)
install(CODE "configure_file(\"${CMAKE_CURRENT_BINARY_DIR}/lkrt.pc.in\" \"${CMAKE_CURRENT_BINARY_DIR}/lkrt.pc\" @ONLY)"
        COMPONENT lkrt)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/lkrt.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT lkrt)
