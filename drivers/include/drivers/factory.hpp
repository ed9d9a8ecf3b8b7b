// Building the configured frame source.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/source_config.hpp"
#include "drivers/source.hpp"
#include "drivers/supervised_source.hpp"

namespace lookout {

// Creates the source named by config.type, not yet started. Cheap: no I/O
// happens until start(). Throws SourceError naming the problem for a type
// this build does not include, or settings the source cannot use (bad size,
// fps, format).
std::unique_ptr<FrameSource> make_source(const SourceConfig& config);

// make_source wrapped in a SupervisedSource with the config's frame timeout
// and backoff: what the daemon runs.
std::unique_ptr<SupervisedSource> make_supervised_source(const SourceConfig& config);

// What is known before starting the source to keep it from working on this
// machine (a Pi 5 with a libcamera that cannot see its camera), for
// `lookoutd --check-config` to warn about. Reads the board's model; no
// device I/O.
std::vector<std::string> source_warnings(const SourceConfig& config);

// Whether this build includes the source type (v4l2 and libcamera are
// CMake options).
bool built_in(SourceType type);
// Source types this build includes, in their name table's order.
std::vector<SourceType> built_in_source_types();

}  // namespace lookout
