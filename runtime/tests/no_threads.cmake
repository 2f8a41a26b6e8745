# lkrt built with -DLKRT_THREADS=OFF (ctest lkrt_no_threads), as the WebAssembly build
# without pthreads needs it: configures and builds the library and the lkrt command in
# -DWORK, then checks that
#   - liblkrt.a references no thread symbol (std::thread, condition variables, pthread_*);
#   - `lkrt --threads 1` writes the same PNG as the default build's lkrt (-DLKRT);
#   - `lkrt --threads 2` is refused with a message naming LKRT_THREADS.
# -DSOURCE=runtime dir -DGENERATOR=... -DCC=... -DCXX=... -DMAKE=lkrt_make_model -DNM=nm [-DLAUNCHER=ccache]
function(run want)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL want)
    message(FATAL_ERROR "expected exit ${want}, got ${rc}: ${ARGN}\nstdout: ${out}\nstderr: ${err}")
  endif()
  set(last_out "${out}" PARENT_SCOPE)
  set(last_err "${err}" PARENT_SCOPE)
endfunction()

set(build ${WORK}/build)
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
if(LAUNCHER)
  set(launcher -DCMAKE_C_COMPILER_LAUNCHER=${LAUNCHER} -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
endif()
run(0 ${CMAKE_COMMAND} -S ${SOURCE} -B ${build} -G ${GENERATOR} -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_C_COMPILER=${CC} -DCMAKE_CXX_COMPILER=${CXX} ${launcher} -DLKRT_THREADS=OFF -DLKRT_BUILD_TESTS=OFF)
run(0 ${CMAKE_COMMAND} --build ${build} --target lkrt_cli --parallel 2)

run(0 ${NM} -C --undefined-only ${build}/liblkrt.a)
string(REGEX MATCHALL "[^\n]*(std::thread|condition_variable|pthread_)[^\n]*" threads "${last_out}")
if(threads)
  message(FATAL_ERROR "liblkrt.a built with LKRT_THREADS=OFF still uses threads:\n${threads}")
endif()

set(lkrt ${build}/lkrt)
run(0 ${MAKE} dcgan ${WORK}/g.lkm --width 8)
run(0 ${LKRT} ${WORK}/g.lkm --seed 3 --out ${WORK}/threads.png --threads 2)
run(0 ${lkrt} ${WORK}/g.lkm --seed 3 --out ${WORK}/one.png --threads 1)
file(READ ${WORK}/threads.png want HEX)
file(READ ${WORK}/one.png got HEX)
if(NOT got STREQUAL want)
  message(FATAL_ERROR "lkrt without threads wrote another image than the default build")
endif()
run(2 ${lkrt} ${WORK}/g.lkm --seed 3 --out ${WORK}/two.png --threads 2)
if(NOT last_err MATCHES "LKRT_THREADS=OFF")
  message(FATAL_ERROR "--threads 2 without threads: ${last_err}")
endif()
