# The runtime's tests under AddressSanitizer + UndefinedBehaviorSanitizer, with
# LeakSanitizer on (ctest lkrt_tests_sanitized): configures and builds the library, the lkrt
# command and lkrt_tests in -DWORK with -DLKRT_SANITIZE=address,undefined (every report is
# fatal: -fno-sanitize-recover), then runs every lkrt_ test there.
# -DSOURCE=runtime dir -DWORK=... -DGENERATOR=... -DCC=... -DCXX=... [-DLAUNCHER=ccache]
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "exit ${rc}: ${ARGN}")
  endif()
endfunction()

if(LAUNCHER)
  set(launcher -DCMAKE_C_COMPILER_LAUNCHER=${LAUNCHER} -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
endif()
run(${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK} -G ${GENERATOR} -DCMAKE_BUILD_TYPE=Debug
    -DCMAKE_C_COMPILER=${CC} -DCMAKE_CXX_COMPILER=${CXX} ${launcher} -DLKRT_SANITIZE=address,undefined)
run(${CMAKE_COMMAND} --build ${WORK} --parallel 2)
# detect_leaks is ASan's default on Linux; said here so that no environment turns it off.
set(ENV{ASAN_OPTIONS} "detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1")
set(ENV{UBSAN_OPTIONS} "print_stacktrace=1:halt_on_error=1")
run(${CMAKE_CTEST_COMMAND} --test-dir ${WORK} --output-on-failure -j 2 -R "^lkrt_")
