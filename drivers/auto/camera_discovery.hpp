// What `source.type: auto` looks for, and in which order:
//   1. libcamera's cameras, in libcamera's order (a Pi's CSI camera; USB
//      webcams too, where libcamera's UVC pipeline takes them);
//   2. V4L2 capture nodes, by node number, that have single-planar capture
//      with streaming I/O and offer a format lookout takes (v4l2_format.hpp).
//      Metadata nodes, memory-to-memory nodes (codecs, the Pi's ISP) and
//      multi-planar receiver nodes are skipped, each with its reason;
//   3. nothing: the caller (AutoSource) falls back to the synthetic source.
// A candidate is only a candidate: AutoSource still has to see it stream.
//
// rank() is pure (tested with made-up device lists); the scan functions read
// this machine's devices. Threads: any; the scans block for as long as opening
// the nodes and starting a libcamera CameraManager takes (milliseconds to a
// few hundred on a Pi).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/source_config.hpp"
#include "v4l2/v4l2_format.hpp"

namespace lookout::discovery {

// V4L2 capability bits (linux/videodev2.h V4L2_CAP_*, repeated so this header
// needs no kernel headers; camera_discovery.cpp checks them).
inline constexpr std::uint32_t kCapVideoCapture = 0x00000001;
inline constexpr std::uint32_t kCapVideoCaptureMplane = 0x00001000;
inline constexpr std::uint32_t kCapVideoM2mMplane = 0x00004000;
inline constexpr std::uint32_t kCapVideoM2m = 0x00008000;
inline constexpr std::uint32_t kCapMetaCapture = 0x00800000;
inline constexpr std::uint32_t kCapStreaming = 0x04000000;

using V4l2Node = v4l2::NodeInfo;

// A source AutoSource may start: the user's settings with type and device
// (or camera id) filled in.
struct Candidate {
  SourceConfig config;
  std::string label;  // "libcamera:<id>", "v4l2:/dev/video0 (HD Pro Webcam C920)"
};

// A device that is not a candidate, and why ("/dev/video1", "metadata node").
struct Skipped {
  std::string what;
  std::string why;
};

struct Discovery {
  std::vector<Candidate> candidates;  // in the order to try
  std::vector<Skipped> skipped;
  std::string libcamera_error;  // libcamera could not be asked (its manager failed)

  // "none of: /dev/video1 (metadata node); ..." for logs; "no video devices"
  // when nothing was seen at all.
  std::string summary() const;
};

// Orders libcamera's cameras (ids, in libcamera's order) and V4L2 nodes (any
// order) into candidates, each a copy of `base` with type, device or camera
// set.
Discovery rank(const SourceConfig& base, const std::vector<std::string>& libcamera_ids,
               const std::vector<V4l2Node>& nodes);

// N for "videoN", else -1.
int video_node_number(const std::string& file_name);

// Every videoN node under `dev`, opened read-only-nonblocking and queried.
// Entries that are not character devices are left out. Empty without V4L2.
std::vector<V4l2Node> list_v4l2_nodes(const std::filesystem::path& dev = "/dev");

// libcamera's camera ids (empty without libcamera). Starts a CameraManager
// when none is running; throws SourceError if it cannot start.
std::vector<std::string> list_libcamera_ids();

// rank() over this machine's cameras. Without `ask_libcamera`, only V4L2
// nodes are looked at: starting a CameraManager costs more (and libcamera
// logs its own warnings each time), and a libcamera camera always brings new
// /dev nodes, which AutoSource's watch notices.
Discovery discover(const SourceConfig& base, bool ask_libcamera = true);

// The names of the video and media nodes under `dev`, sorted: cheap to read
// (one directory listing), so AutoSource polls it and rescans when it changes.
std::vector<std::string> capture_node_names(const std::filesystem::path& dev = "/dev");

}  // namespace lookout::discovery
