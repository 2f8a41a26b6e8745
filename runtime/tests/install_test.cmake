# lkrt installed as an app developer uses it (ctest lkrt_install, lkrt_install_find_package,
# lkrt_install_pkg_config):
#   -DMODE=install       cmake --install -DBUILD into -DPREFIX, check the files, run the
#                        installed lkrt command on a model made by -DMAKE
#   -DMODE=find_package  build tests/c_example.c with find_package(lkrt) + lkrt::lkrt
#   -DMODE=pkg_config    build it with -DCC and `pkg-config --cflags --libs lkrt`
# Both builds must print what the build tree's example (-DCEXAMPLE) prints for the model.
# -DSOURCE=runtime dir -DLIBDIR=lib dir under the prefix -DWORK=scratch dir
# [-DEMULATOR=qemu-aarch64,-L,... -DTOOLCHAIN=file]: a cross build's emulator and toolchain.
string(REPLACE "," ";" EMULATOR "${EMULATOR}")
set(model ${WORK}/g.lkm)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "exit ${rc}: ${ARGN}\nstdout: ${out}\nstderr: ${err}")
  endif()
  set(last_out "${out}" PARENT_SCOPE)
endfunction()

# The installed example must print what the one built in the tree prints.
function(check_example exe)
  run(${EMULATOR} ${CEXAMPLE} ${model})
  set(want "${last_out}")
  run(${EMULATOR} ${exe} ${model})
  if(NOT want MATCHES "^pixel 0: -?[0-9]" OR NOT last_out STREQUAL want)
    message(FATAL_ERROR "${exe} printed '${last_out}', the build tree's example '${want}'")
  endif()
  message(STATUS "${exe}: ${last_out}")
endfunction()

if(MODE STREQUAL "install")
  file(REMOVE_RECURSE ${PREFIX} ${WORK})
  file(MAKE_DIRECTORY ${WORK})
  run(${CMAKE_COMMAND} --install ${BUILD} --prefix ${PREFIX} --component lkrt)
  foreach(f lib/liblkrt.a include/lkrt.h include/lkrt_code.h include/lkrt_writer.h bin/lkrt
            lib/cmake/lkrt/lkrtConfig.cmake lib/cmake/lkrt/lkrtConfigVersion.cmake lib/cmake/lkrt/lkrtTargets.cmake
            lib/pkgconfig/lkrt.pc)
    string(REPLACE "lib/" "${LIBDIR}/" f "${f}")
    if(NOT EXISTS ${PREFIX}/${f})
      message(FATAL_ERROR "cmake --install left no ${PREFIX}/${f}")
    endif()
  endforeach()
  file(READ ${PREFIX}/${LIBDIR}/pkgconfig/lkrt.pc pc)
  if(NOT pc MATCHES "prefix=${PREFIX}\n")
    message(FATAL_ERROR "lkrt.pc does not name the install prefix ${PREFIX}:\n${pc}")
  endif()
  run(${EMULATOR} ${MAKE} dcgan ${model} --width 8 --type fp16)
  run(${EMULATOR} ${PREFIX}/bin/lkrt ${model} --info)
  if(NOT last_out MATCHES "latent_dim   100" OR NOT last_out MATCHES "fp16")
    message(FATAL_ERROR "installed lkrt --info: ${last_out}")
  endif()
elseif(MODE STREQUAL "find_package")
  set(build ${WORK}/find_package)
  file(REMOVE_RECURSE ${build})
  if(TOOLCHAIN)
    # A cross toolchain searches packages under its root paths only (as the Android NDK's does).
    set(find -DCMAKE_TOOLCHAIN_FILE=${TOOLCHAIN} -DCMAKE_FIND_ROOT_PATH=${PREFIX})
  else()
    set(find -DCMAKE_PREFIX_PATH=${PREFIX})
  endif()
  run(${CMAKE_COMMAND} -S ${SOURCE}/tests/install_consumer -B ${build} -DCMAKE_BUILD_TYPE=Release ${find})
  run(${CMAKE_COMMAND} --build ${build})
  check_example(${build}/c_example)
elseif(MODE STREQUAL "pkg_config")
  set(ENV{PKG_CONFIG_PATH} ${PREFIX}/${LIBDIR}/pkgconfig)
  find_program(PKG_CONFIG pkg-config REQUIRED)
  run(${PKG_CONFIG} --cflags --libs lkrt)
  string(STRIP "${last_out}" flags)
  if(NOT flags MATCHES "-I${PREFIX}/include" OR NOT flags MATCHES "-llkrt")
    message(FATAL_ERROR "pkg-config --cflags --libs lkrt: ${flags}")
  endif()
  separate_arguments(flags UNIX_COMMAND "${flags}")
  # The flags after the source, as a Makefile has them: cc app.c $(pkg-config --cflags --libs lkrt)
  run(${CC} -std=c99 ${SOURCE}/tests/c_example.c ${flags} -o ${WORK}/c_example_pc)
  check_example(${WORK}/c_example_pc)
else()
  message(FATAL_ERROR "MODE is install, find_package or pkg_config, got '${MODE}'")
endif()
