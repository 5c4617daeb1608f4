# The guest toolchain: the flags every pVM guest is built with, and pvm_add_guest().
#
# Included by hypercalls/CMakeLists.txt (a source build, which also builds the runtime)
# and by cmake/pvm-config.cmake (an installed package, with the runtime prebuilt). The
# includer sets, before including this file:
#   PVM_ABI_JSON             hypercalls/abi.json (the image base comes from it)
#   PVM_GUEST_INCLUDE_DIRS   pvm.h, the runtime's libc headers, pvm/abi.h (search order)
#   PVM_GUEST_LINKER_SCRIPT  pvm-guest.ld
# and provides the target `pvm_runtime` (the runtime archive, built or IMPORTED).
# Optional: PVM_GUEST_DIR (default output directory of the images), the target pvm_abi
# (generates pvm/abi.h; guests wait for it when it exists).

if(NOT CMAKE_C_COMPILER_ID STREQUAL "GNU")
  message(WARNING "pvm guests are tested with GCC; ${CMAKE_C_COMPILER_ID} may need other flags")
endif()

# ---- what the ABI fixes: the image base (layout.IMAGE_BASE in abi.json) ------------
file(READ ${PVM_ABI_JSON} _pvm_abi_text)
string(JSON _pvm_image_base GET "${_pvm_abi_text}" layout IMAGE_BASE)
math(EXPR PVM_IMAGE_BASE "${_pvm_image_base}" OUTPUT_FORMAT HEXADECIMAL)
string(JSON PVM_ABI_VERSION_JSON GET "${_pvm_abi_text}" version)

# ---- the compiler's own freestanding headers (stddef.h, stdint.h, stdarg.h, ...) ---
execute_process(
  COMMAND ${CMAKE_C_COMPILER} -print-file-name=include
  OUTPUT_VARIABLE PVM_GUEST_CC_INCLUDE_DIR OUTPUT_STRIP_TRAILING_WHITESPACE
  COMMAND_ERROR_IS_FATAL ANY)
execute_process(
  COMMAND ${CMAKE_C_COMPILER} -print-libgcc-file-name
  OUTPUT_VARIABLE PVM_GUEST_LIBGCC OUTPUT_STRIP_TRAILING_WHITESPACE
  COMMAND_ERROR_IS_FATAL ANY)

# ---- the guest toolchain: ONE definition ---------------------------------------------
# Compile:  <cc> <PVM_GUEST_CFLAGS> -I<each of PVM_GUEST_INCLUDE_DIRS> -c x.c -o x.o
# Link:     <cc> <PVM_GUEST_LDFLAGS> -Wl,-T,<PVM_GUEST_LINKER_SCRIPT> x.o...
#                <runtime archive> <PVM_GUEST_LIBS> -o x.pvm
# Baseline x86-64 only: the guest has SSE (CR4.OSFXSR) but no XSAVE/AVX.
# -nostdinc drops the host's libc headers; -isystem<gcc's include dir> brings back the
# compiler's own freestanding ones (stddef.h, stdint.h, stdarg.h, stdbool.h). It is a
# flag rather than an include directory because CMake filters the compiler's implicit
# include directories out of -I lists.
set(PVM_GUEST_CFLAGS
  -std=gnu11 -O2 -g -Wall
  -ffreestanding -nostdinc -isystem${PVM_GUEST_CC_INCLUDE_DIR}
  -march=x86-64 -mtune=generic
  -fno-pic -fno-pie -mcmodel=small
  -mno-red-zone
  -fno-stack-protector -fno-stack-clash-protection -fcf-protection=none
  -fno-asynchronous-unwind-tables -fno-unwind-tables
  CACHE INTERNAL "C flags for pVM guests")
set(PVM_GUEST_INCLUDE_DIRS ${PVM_GUEST_INCLUDE_DIRS}
  CACHE INTERNAL "include directories for pVM guests, in search order")
set(PVM_GUEST_LINKER_SCRIPT ${PVM_GUEST_LINKER_SCRIPT}
  CACHE INTERNAL "linker script for pVM guests")
set(PVM_GUEST_LDFLAGS
  -nostdlib -static -no-pie
  -Wl,--defsym=__pvm_image_base=${PVM_IMAGE_BASE}
  -Wl,--build-id=none -Wl,-z,noexecstack -Wl,-z,max-page-size=4096
  CACHE INTERNAL "link flags for pVM guests (the linker script is added separately)")
set(PVM_GUEST_LIBS ${PVM_GUEST_LIBGCC}
  CACHE INTERNAL "libraries linked after the runtime")

# The generic compiler and linker flags of the enclosing project (CMAKE_C_FLAGS,
# CMAKE_C_FLAGS_RELEASE with -O3 -DNDEBUG, $CFLAGS such as -march=native, ...) are for
# host code and must not reach guests: a guest target sees only the lists above.
macro(_pvm_guest_clear_host_flags)
  foreach(_lang C ASM)
    set(CMAKE_${_lang}_FLAGS "")
    foreach(_cfg DEBUG RELEASE RELWITHDEBINFO MINSIZEREL)
      set(CMAKE_${_lang}_FLAGS_${_cfg} "")
    endforeach()
  endforeach()
  set(CMAKE_EXE_LINKER_FLAGS "")
  set(CMAKE_STATIC_LINKER_FLAGS "")
  foreach(_cfg DEBUG RELEASE RELWITHDEBINFO MINSIZEREL)
    set(CMAKE_EXE_LINKER_FLAGS_${_cfg} "")
    set(CMAKE_STATIC_LINKER_FLAGS_${_cfg} "")
  endforeach()
endmacro()

# Properties every guest target (runtime included) gets, so that global defaults
# (CMAKE_POSITION_INDEPENDENT_CODE, CMAKE_INTERPROCEDURAL_OPTIMIZATION, CMAKE_C_STANDARD
# from the enclosing project) cannot add flags either.
function(_pvm_guest_target_setup target)
  set_target_properties(${target} PROPERTIES
    POSITION_INDEPENDENT_CODE OFF
    INTERPROCEDURAL_OPTIMIZATION OFF
    C_STANDARD 11 C_EXTENSIONS ON    # = the -std=gnu11 already in PVM_GUEST_CFLAGS
    C_COMPILER_LAUNCHER ""
    LINKER_LANGUAGE C)
  target_compile_options(${target} PRIVATE ${PVM_GUEST_CFLAGS})
  target_include_directories(${target} PRIVATE ${PVM_GUEST_INCLUDE_DIRS})
  if(TARGET pvm_abi)
    add_dependencies(${target} pvm_abi)
  endif()
endfunction()

# ---- pvm_add_guest(<name> SOURCES <file>... [INCLUDE_DIRECTORIES <dir>...]
#                   [COMPILE_DEFINITIONS <def>...] [COMPILE_OPTIONS <opt>...]
#                   [LINK_LIBRARIES <guest static lib or file>...]
#                   [OUTPUT_DIRECTORY <dir>])
# Builds the guest image <OUTPUT_DIRECTORY>/<name>.pvm (default ${PVM_GUEST_DIR}, else
# the current binary directory) as the target `guest-<name>`, part of `all`. Sources
# are C (or .S assembler); they see <pvm.h>, <pvm/abi.h> and the runtime's libc headers.
# Note: the enclosing project's generic CMAKE_C_FLAGS*/CMAKE_EXE_LINKER_FLAGS* are
# cleared in the calling directory (they are per directory in CMake), so keep guests
# in a directory of their own, away from host targets.
function(pvm_add_guest name)
  cmake_parse_arguments(PARSE_ARGV 1 arg ""
    "OUTPUT_DIRECTORY" "SOURCES;INCLUDE_DIRECTORIES;COMPILE_DEFINITIONS;COMPILE_OPTIONS;LINK_LIBRARIES")
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "pvm_add_guest(${name}): SOURCES is required")
  endif()
  if(NOT arg_OUTPUT_DIRECTORY)
    if(DEFINED PVM_GUEST_DIR)
      set(arg_OUTPUT_DIRECTORY ${PVM_GUEST_DIR})
    else()
      set(arg_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
    endif()
  endif()
  set(target guest-${name})
  add_executable(${target} ${arg_SOURCES})
  _pvm_guest_target_setup(${target})
  if(arg_INCLUDE_DIRECTORIES)
    target_include_directories(${target} BEFORE PRIVATE ${arg_INCLUDE_DIRECTORIES})
  endif()
  if(arg_COMPILE_DEFINITIONS)
    target_compile_definitions(${target} PRIVATE ${arg_COMPILE_DEFINITIONS})
  endif()
  if(arg_COMPILE_OPTIONS)
    target_compile_options(${target} PRIVATE ${arg_COMPILE_OPTIONS})
  endif()
  target_link_options(${target} PRIVATE
    ${PVM_GUEST_LDFLAGS} "-Wl,-T,${PVM_GUEST_LINKER_SCRIPT}")
  target_link_libraries(${target} PRIVATE ${arg_LINK_LIBRARIES} pvm_runtime ${PVM_GUEST_LIBS})
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME ${name}
    SUFFIX ".pvm"
    RUNTIME_OUTPUT_DIRECTORY ${arg_OUTPUT_DIRECTORY}
    LINK_DEPENDS ${PVM_GUEST_LINKER_SCRIPT})
  # Clear the host flags in the caller's directory (see above).
  foreach(_lang C ASM)
    set(CMAKE_${_lang}_FLAGS "" PARENT_SCOPE)
    foreach(_cfg DEBUG RELEASE RELWITHDEBINFO MINSIZEREL)
      set(CMAKE_${_lang}_FLAGS_${_cfg} "" PARENT_SCOPE)
    endforeach()
  endforeach()
  set(CMAKE_EXE_LINKER_FLAGS "" PARENT_SCOPE)
  foreach(_cfg DEBUG RELEASE RELWITHDEBINFO MINSIZEREL)
    set(CMAKE_EXE_LINKER_FLAGS_${_cfg} "" PARENT_SCOPE)
  endforeach()
endfunction()
