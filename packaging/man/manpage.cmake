# Makes one compressed man page from a program's --help with help2man (cmake -P; run at build time
# by packaging/CMakeLists.txt, never committed):
#
#   -DNAME=edgetrain-agent  -DSUMMARY="..."  -DVERSION=0.1.0  -DCOMMAND="qemu-aarch64;-L;/;.../prog"
#   -DHELPER=.../help-sections.sh  -DINCLUDE=.../edgetrain-agent.h2m  -DWORK_DIR=...  -DOUTPUT=....1.gz
#   -DHELP2MAN=/usr/bin/help2man  -DGZIP=/bin/gzip  [-DSOURCE_DATE_EPOCH=...]
#
# help2man runs WORK_DIR/NAME, a wrapper that calls help-sections.sh, so that every subcommand's
# options are on the page too. SOURCE_DATE_EPOCH (the changelog's date) makes the page's date, and
# gzip -n leaves the time out of the archive: the same sources give the same page.
foreach(var NAME SUMMARY VERSION COMMAND HELPER INCLUDE WORK_DIR OUTPUT HELP2MAN GZIP)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "manpage.cmake: -D${var}=... is missing")
  endif()
endforeach()

list(FILTER COMMAND EXCLUDE REGEX "^$")  # no emulator in a native build
file(MAKE_DIRECTORY "${WORK_DIR}")
set(quoted "")
foreach(word IN LISTS COMMAND)
  string(REPLACE "'" "'\\''" word "${word}")
  string(APPEND quoted " '${word}'")
endforeach()
set(wrapper "${WORK_DIR}/${NAME}")
file(WRITE "${wrapper}" "#!/bin/sh\nexec /bin/sh '${HELPER}' \"$1\" '${NAME}'${quoted}\n")
file(CHMOD "${wrapper}" PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
     WORLD_READ WORLD_EXECUTE)

set(env "")
if(DEFINED SOURCE_DATE_EPOCH AND NOT SOURCE_DATE_EPOCH STREQUAL "")
  set(env "SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH}")
endif()
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env ${env} LC_ALL=C.UTF-8
          ${HELP2MAN} --no-info --no-discard-stderr "--version-string=${VERSION}" "--name=${SUMMARY}"
          "--include=${INCLUDE}" "--output=${WORK_DIR}/${NAME}.1" "${wrapper}"
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "help2man failed for ${NAME}: ${err}")
endif()
file(READ "${WORK_DIR}/${NAME}.1" page)
if(NOT page MATCHES "\n\\.SH OPTIONS\n")
  message(FATAL_ERROR "help2man made a page without options for ${NAME}: did '${COMMAND} --help' run?")
endif()
execute_process(COMMAND ${GZIP} -9n -c "${WORK_DIR}/${NAME}.1" OUTPUT_FILE "${OUTPUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gzip failed for ${OUTPUT}")
endif()
