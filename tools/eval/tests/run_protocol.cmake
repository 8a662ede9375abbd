# Runs one unitsface-eval protocol subcommand case (cmake -P). Variables: TOOL, HELPER, DIR (the
# files eval.make_protocol_files wrote), NAME (the case), ARGS (the subcommand and its
# arguments, space-separated, with @DIR@ for DIR), and either
#   VECTOR   the report (--json) must match the vector's expected values (check-protocol), or
#   EXPECT   exit status 2, a message matching EXPECT, and no report written;
# TOL: the tolerance of AUC and EER (a histogram's bins), and BLOB: a file the run must have
# written as a score_histogram blob.
cmake_minimum_required(VERSION 3.25)
string(REPLACE "@DIR@" "${DIR}" args "${ARGS}")
separate_arguments(args UNIX_COMMAND "${args}")
set(report ${DIR}/${NAME}_report.json)
file(REMOVE ${report})
execute_process(COMMAND ${TOOL} ${args} --json ${report} RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(DEFINED EXPECT)
  if(NOT rc EQUAL 2)
    message(FATAL_ERROR "expected exit status 2, got ${rc}\n${out}\n${err}")
  endif()
  if(NOT err MATCHES "${EXPECT}")
    message(FATAL_ERROR "the message does not match '${EXPECT}':\n${err}")
  endif()
  if(EXISTS ${report})
    message(FATAL_ERROR "a report was written for malformed input")
  endif()
  return()
endif()
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "unitsface-eval ${args}: exit status ${rc}\n${out}\n${err}")
endif()
message(STATUS "${out}")
execute_process(COMMAND ${HELPER} check-protocol ${report} ${VECTOR} ${TOL} RESULT_VARIABLE rc
                ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the report differs from ${VECTOR}:\n${err}")
endif()
message(STATUS "${err}")
if(DEFINED BLOB)
  string(REPLACE "@DIR@" "${DIR}" blob "${BLOB}")
  file(READ ${blob} magic LIMIT 8 HEX)
  if(NOT magic STREQUAL "5546484953543031")  # "UFHIST01"
    message(FATAL_ERROR "${blob} is not a score_histogram blob")
  endif()
endif()
