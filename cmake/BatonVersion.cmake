# The git revision Baton was built from, for `baton --version`.
# baton_git_revision(DIR OUT): OUT is `git describe --always --dirty` of DIR
# when DIR is the top of a git checkout (or worktree), else empty: a source
# tarball unpacked inside some other repository must not take its revision.
# As a script (cmake -DDIR=... -P BatonVersion.cmake) it prints "revision=OUT".
function(baton_git_revision dir out)
  set(rev "")
  find_program(BATON_GIT git)
  if(BATON_GIT)
    execute_process(COMMAND ${BATON_GIT} -C ${dir} rev-parse --show-toplevel
      OUTPUT_VARIABLE top RESULT_VARIABLE rc ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(rc EQUAL 0)
      get_filename_component(top "${top}" REALPATH)
      get_filename_component(real "${dir}" REALPATH)
      if(top STREQUAL real)
        execute_process(COMMAND ${BATON_GIT} -C ${dir} describe --always --dirty
          OUTPUT_VARIABLE rev RESULT_VARIABLE rc ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
        if(NOT rc EQUAL 0)
          set(rev "")
        endif()
      endif()
    endif()
  endif()
  set(${out} "${rev}" PARENT_SCOPE)
endfunction()

if(CMAKE_SCRIPT_MODE_FILE AND DIR)
  baton_git_revision("${DIR}" rev)
  message("revision=${rev}")
endif()
