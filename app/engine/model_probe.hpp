// Internal to app/engine: reading a model file in a child process first
// (EngineOptions::probe_command), so that what libtorch's reader does with a
// corrupt or hostile archive (allocate tens of GB, crash) happens there.
//
// Plain functions; the thread that loads the engine calls them. The child is
// forked and execs at once (nothing but async-signal-safe calls between).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.hpp"

namespace lookout::engine {

// What a cgroup (v2) directory may still use: memory.max minus what it holds
// that cannot be reclaimed, or nullopt without a limit. memory.current
// counts the page cache too (files read and written since boot, often most
// of it): taken as it is, a unit that once copied a big file would leave the
// probe too little to start.
std::optional<std::uintmax_t> cgroup_memory_left(const std::string& dir);

// Runs `command` with "=PATH" added to its last argument, and waits up to
// `patience`. Returns when the probe accepted the file, or could not be
// started at all (logged: the caller loads in-process as without a probe). Throws ModelError naming
// the file when the probe refused it, crashed, ran out of memory or took too long.
void probe_model(const std::string& path, const std::vector<std::string>& command,
                 std::chrono::seconds patience);

// The probe's side, first thing before it reads the file. Its budget is
// LOOKOUT_PROBE_MEMORY_LIMIT (bytes), which probe_model passes, or else the
// data limit (RLIMIT_DATA) it was started under. It sets the data limit to
// the budget, and the address space to what it has mapped now (the program
// and its libraries) plus the budget and 256 MiB for stacks and read-only
// mappings. Why both: some kernels do not enforce the data limit (booted
// with ignore_rlimit_data; sandboxes such as gVisor count only brk), and then
// a 20 GB request would succeed and be zeroed. Without a budget (sanitizer
// builds, or a probe run by hand) it does nothing.
void limit_probe_address_space();

}  // namespace lookout::engine
