# C programs compiled to wasm32-wasi at build time (clang with Debian's wasi-libc), for tests
# that run real WASI guests. Nothing is committed as a binary.
#
#   berth_wasi_guests(<target> <source.c>...)
# builds each source into ${BERTH_WASI_GUEST_DIR}/<name>.wasm under one custom target. clang,
# lld and wasi-libc come from scripts/setup.sh; without them the configure stops and says so
# (the Wasm tests would otherwise have nothing to run).

set(BERTH_WASI_GUEST_DIR ${CMAKE_BINARY_DIR}/tests/wasm/guests)

function(berth_check_wasi_clang)
  if(DEFINED CACHE{BERTH_WASI_CLANG_WORKS})
    return()
  endif()
  find_program(BERTH_WASI_CLANG NAMES clang clang-14 clang-15 clang-16)
  set(works OFF)
  if(BERTH_WASI_CLANG)
    set(probe_dir ${CMAKE_BINARY_DIR}/CMakeFiles/wasi-probe)
    file(MAKE_DIRECTORY ${probe_dir})
    file(WRITE ${probe_dir}/probe.c "#include <stdio.h>\nint main(void){puts(\"ok\");return 0;}\n")
    execute_process(
      COMMAND ${BERTH_WASI_CLANG} --target=wasm32-wasi -O2 ${probe_dir}/probe.c -o ${probe_dir}/probe.wasm
      RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
    if(rc EQUAL 0)
      set(works ON)
    else()
      message(FATAL_ERROR "WASI guests: ${BERTH_WASI_CLANG} --target=wasm32-wasi fails (${err}): run scripts/setup.sh (clang, lld, wasi-libc, libclang-rt-14-dev-wasm32)")
    endif()
  else()
    message(FATAL_ERROR "WASI guests: no clang: run scripts/setup.sh")
  endif()
  set(BERTH_WASI_CLANG_WORKS ${works} CACHE BOOL "clang can build wasm32-wasi guests")
endfunction()

function(berth_wasi_guests target)
  berth_check_wasi_clang()
  set(outputs)
  if(BERTH_WASI_CLANG_WORKS)
    foreach(source ${ARGN})
      get_filename_component(name ${source} NAME_WE)
      set(output ${BERTH_WASI_GUEST_DIR}/${name}.wasm)
      add_custom_command(
        OUTPUT ${output}
        COMMAND ${CMAKE_COMMAND} -E make_directory ${BERTH_WASI_GUEST_DIR}
        COMMAND ${BERTH_WASI_CLANG} --target=wasm32-wasi -O2 -Wall -Werror ${source} -o ${output}
        DEPENDS ${source}
        COMMENT "Compiling WASI guest ${name}.wasm"
        VERBATIM)
      list(APPEND outputs ${output})
    endforeach()
  endif()
  add_custom_target(${target} DEPENDS ${outputs})
endfunction()
