# pvm for CMake projects: pvm_add_guest() with the guest runtime of the npm package.
#
#   project(app C)
#   find_package(pvm REQUIRED CONFIG PATHS ${CMAKE_SOURCE_DIR}/node_modules/pvm/cmake)
#   pvm_add_guest(hello SOURCES hello.c)      # -> ${CMAKE_CURRENT_BINARY_DIR}/hello.pvm
#
# The runtime is the one `npx pvm cc` uses: a local build of the package (build/, made by
# `npx pvm build` or in a source checkout) if there is one, else the prebuilt one in
# prebuilds/linux-x64/guest. Set PVM_GUEST_DIR before pvm_add_guest() to put every image
# in one directory.

get_filename_component(_pvm_root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(_pvm_kit ${_pvm_root}/prebuilds/linux-x64/guest)
if(EXISTS ${_pvm_root}/build/guest-runtime/libpvmrt.a AND EXISTS ${_pvm_root}/build/generated/pvm/abi.h)
  set(_pvm_runtime ${_pvm_root}/build/guest-runtime/libpvmrt.a)
  set(PVM_GUEST_INCLUDE_DIRS ${_pvm_root}/hypercalls/include ${_pvm_root}/build/generated)
  set(PVM_GUEST_LINKER_SCRIPT ${_pvm_root}/hypercalls/pvm-guest.ld)
elseif(EXISTS ${_pvm_kit}/lib/libpvmrt.a)
  set(_pvm_runtime ${_pvm_kit}/lib/libpvmrt.a)
  set(PVM_GUEST_INCLUDE_DIRS ${_pvm_kit}/include)
  set(PVM_GUEST_LINKER_SCRIPT ${_pvm_kit}/pvm-guest.ld)
else()
  set(pvm_FOUND FALSE)
  set(pvm_NOT_FOUND_MESSAGE
    "no pvm guest runtime in ${_pvm_root} (neither prebuilds/linux-x64/guest nor build/): run `npx pvm build`")
  return()
endif()
set(PVM_ABI_JSON ${_pvm_root}/hypercalls/abi.json)
include(${_pvm_root}/hypercalls/pvm-guest.cmake)

if(NOT TARGET pvm_runtime)
  add_library(pvm_runtime STATIC IMPORTED GLOBAL)
  set_target_properties(pvm_runtime PROPERTIES IMPORTED_LOCATION ${_pvm_runtime})
endif()
