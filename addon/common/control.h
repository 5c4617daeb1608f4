// Control protocol between the host (the N-API addon) and a monitor process.
//
// Its one definition is addon/common/control.json; scripts/gen-control.mjs (`npm run gen`)
// generates the message types, structs, enums and flags into control_gen.h, and the same
// definition into the addon's message -> JS code and the library's TypeScript tables.
// Sending and receiving: control_io.h. Errors on the wire: wire_errno.h.
#pragma once

#include "common/control_gen.h"
