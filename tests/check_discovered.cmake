# repo.discovered_tests: every test case of every Catch2 suite is registered with CTest, once.
#
#   cmake -DSUITES=<file listing one suite executable a line> -DBUILD=<build dir>
#         -DCTEST=<ctest> -P check_discovered.cmake
#
# For each suite, the test cases the executable lists (`--list-test-names-only`, compiled from
# the sources) are compared with the CTest tests whose command runs that executable. A name
# that CMake split (at a `;`), a suite whose discovery failed, or a test case registered twice
# makes the counts differ.
file(STRINGS "${SUITES}" suites)
execute_process(COMMAND "${CTEST}" --test-dir "${BUILD}" --show-only=json-v1
                OUTPUT_VARIABLE json RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ctest --show-only failed (${rc})")
endif()
string(JSON n_tests LENGTH "${json}" tests)
# Each test's program, read once: a JSON GET parses the whole document again, so reading it
# once per suite and test cost minutes.
set(programs "")
math(EXPR last "${n_tests} - 1")
foreach(i RANGE ${last})
  string(JSON cmd ERROR_VARIABLE err GET "${json}" tests ${i} command 0)
  if(err)
    set(cmd "")
  endif()
  list(APPEND programs "${cmd}")
endforeach()
set(failed 0)
set(total 0)
foreach(exe ${suites})
  execute_process(COMMAND "${exe}" --list-test-names-only OUTPUT_VARIABLE names
                  RESULT_VARIABLE rc)
  string(REGEX MATCHALL "[^\n]+" names "${names}")
  list(LENGTH names listed)
  set(registered 0)
  foreach(cmd IN LISTS programs)
    if(cmd STREQUAL exe)
      math(EXPR registered "${registered} + 1")
    endif()
  endforeach()
  get_filename_component(name "${exe}" NAME)
  if(listed EQUAL 0 OR NOT listed EQUAL registered)
    message(SEND_ERROR "${name}: ${listed} test cases in the executable, ${registered} CTest tests")
    set(failed 1)
  else()
    message(STATUS "${name}: ${listed} test cases, ${registered} CTest tests")
  endif()
  math(EXPR total "${total} + ${listed}")
endforeach()
list(LENGTH suites n_suites)
message(STATUS "${n_suites} suites, ${total} test cases")
if(n_suites EQUAL 0)
  message(FATAL_ERROR "no suite listed in ${SUITES}")
endif()
