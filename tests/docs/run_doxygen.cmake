# Builds the API reference (docs/api/Doxyfile) into OUT, failing on any doxygen warning:
# the Doxyfile with its output folder replaced, run from the repository root.
file(READ ${SOURCE}/docs/api/Doxyfile doxyfile)
string(REGEX REPLACE "\nOUTPUT_DIRECTORY[^\n]*" "\nOUTPUT_DIRECTORY = ${OUT}" doxyfile "${doxyfile}")
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})
file(WRITE ${OUT}/Doxyfile "${doxyfile}")
execute_process(COMMAND ${DOXYGEN} ${OUT}/Doxyfile WORKING_DIRECTORY ${SOURCE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT err STREQUAL "")
  message(FATAL_ERROR "doxygen failed (${rc}):\n${err}")
endif()
if(NOT EXISTS ${OUT}/html/index.html)
  message(FATAL_ERROR "doxygen wrote no ${OUT}/html/index.html")
endif()
