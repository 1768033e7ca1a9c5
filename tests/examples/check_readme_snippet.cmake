# check_readme_snippet.cmake -DREADME=... -DSNIPPET=...: fails unless README.md holds the file
# SNIPPET verbatim inside a ```c fence (from its first #include to the end), so the quick start
# a reader copies is the program the examples tests build and run.
file(READ ${SNIPPET} snippet)
string(FIND "${snippet}" "#include" start)
string(SUBSTRING "${snippet}" ${start} -1 body)
file(READ ${README} readme)
string(FIND "${readme}" "```c\n${body}```" found)
if(found EQUAL -1)
  message(FATAL_ERROR "README.md does not hold ${SNIPPET} (from its first #include) verbatim in a "
                      "```c block: copy the file into the README's C quick start")
endif()
message(STATUS "README.md C quick start matches ${SNIPPET}")
