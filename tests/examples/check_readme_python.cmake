# check_readme_python.cmake -DREADME=... -DSNIPPET=...: fails unless README.md holds the Python
# file SNIPPET verbatim inside a ```python fence (from its first line starting with "import" to
# the end), so the quick start a reader copies is the program examples_python_quickstart runs.
file(READ ${SNIPPET} snippet)
string(REGEX MATCH "(^|\n)import " first "${snippet}")
if(NOT first)
  message(FATAL_ERROR "${SNIPPET} has no line starting with \"import \"")
endif()
string(FIND "${snippet}" "${first}" start)
if(first MATCHES "^\n")
  math(EXPR start "${start} + 1")
endif()
string(SUBSTRING "${snippet}" ${start} -1 body)
file(READ ${README} readme)
string(FIND "${readme}" "```python\n${body}```" found)
if(found EQUAL -1)
  message(FATAL_ERROR "README.md does not hold ${SNIPPET} (from its first import) verbatim in a "
                      "```python block: copy the file into the README's Python quick start")
endif()
message(STATUS "README.md Python quick start matches ${SNIPPET}")
