# cmake -DWEB=<report/web> -DNPM=<npm> -DSTAMP=<file> -P npm_ci.cmake
# Runs `npm ci` in WEB when node_modules is missing or older than package-lock.json (scripts/bootstrap
# usually did it already), then touches STAMP.
set(hidden_lock ${WEB}/node_modules/.package-lock.json)
set(need FALSE)
if(NOT EXISTS ${hidden_lock})
  set(need TRUE)
elseif(${WEB}/package-lock.json IS_NEWER_THAN ${hidden_lock})
  set(need TRUE)
endif()
foreach(file vega/build/vega.min.js vega-lite/build/vega-lite.min.js
             vega-embed/build/vega-embed.min.js)
  if(NOT EXISTS ${WEB}/node_modules/${file})
    set(need TRUE)
  endif()
endforeach()
if(need)
  if(NOT NPM)
    message(FATAL_ERROR "report: ${WEB}/node_modules is missing and npm was not found; "
                        "run scripts/bootstrap (needs node 20 + npm)")
  endif()
  message(STATUS "report: npm ci in ${WEB}")
  execute_process(COMMAND ${NPM} ci --no-audit --no-fund --loglevel=error
                  WORKING_DIRECTORY ${WEB} RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "report: npm ci failed in ${WEB} (exit ${result})")
  endif()
endif()
file(TOUCH ${STAMP})
