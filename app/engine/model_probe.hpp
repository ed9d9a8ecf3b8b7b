// Internal to app/engine: reading a model file in a child process first
// (EngineOptions::probe_command), so that what libtorch's reader does with a
// corrupt or hostile archive (allocate tens of GB, crash) happens there.
//
// Plain functions; the thread that loads the engine calls them. The child is
// forked and execs at once (nothing but async-signal-safe calls between).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "engine/engine.hpp"

namespace lookout::engine {

// Runs `command` with "=PATH" added to its last argument, and waits up to
// `patience`. Returns when the probe accepted the file, or could not be
// started at all (logged: the caller loads in-process as without a probe). Throws ModelError naming
// the file when the probe refused it, crashed, ran out of memory or took too long.
void probe_model(const std::string& path, const std::vector<std::string>& command,
                 std::chrono::seconds patience);

}  // namespace lookout::engine
