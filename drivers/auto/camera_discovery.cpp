#include "auto/camera_discovery.hpp"

#include <algorithm>
#include <array>
#include <string_view>
#include <system_error>

#include "common/fourcc.hpp"
#include "drivers/source.hpp"

#if LOOKOUT_WITH_V4L2
#include <linux/videodev2.h>
#include <sys/stat.h>

#include "v4l2/v4l2_source.hpp"
#endif
#if LOOKOUT_WITH_LIBCAMERA
#include "libcamera/libcamera_source.hpp"
#endif

namespace lookout::discovery {

#if LOOKOUT_WITH_V4L2
static_assert(kCapVideoCapture == V4L2_CAP_VIDEO_CAPTURE &&
                  kCapVideoCaptureMplane == V4L2_CAP_VIDEO_CAPTURE_MPLANE &&
                  kCapVideoM2mMplane == V4L2_CAP_VIDEO_M2M_MPLANE &&
                  kCapVideoM2m == V4L2_CAP_VIDEO_M2M && kCapMetaCapture == V4L2_CAP_META_CAPTURE &&
                  kCapStreaming == V4L2_CAP_STREAMING,
              "capability bits must match linux/videodev2.h");
#endif

namespace {

// Drivers whose capture nodes are stages of an image pipeline, not cameras:
// they advertise YUV capture but only stream what their other queue is fed.
constexpr std::array<std::string_view, 5> kPipelineStageDrivers{
    "bcm2835-isp", "pispbe", "bcm2835-codec", "rpi-hevc-dec", "bcm2835-jpeg"};

// Whether lookout takes this fourcc from a V4L2 device.
bool takes_format(std::uint32_t code) {
#if LOOKOUT_WITH_V4L2
  return v4l2::to_pixel_format(code).has_value();
#else
  (void)code;
  return false;
#endif
}

// Why a node is not a candidate; empty when it is one.
std::string rejection(const V4l2Node& node) {
  if (!node.error.empty()) return node.error;
  if ((node.caps & (kCapVideoM2m | kCapVideoM2mMplane)) != 0) {
    return "memory-to-memory node (a codec or converter)";
  }
  if (std::find(kPipelineStageDrivers.begin(), kPipelineStageDrivers.end(), node.driver) !=
      kPipelineStageDrivers.end()) {
    return "a stage of the image pipeline (" + node.driver + "), not a camera";
  }
  if ((node.caps & kCapVideoCapture) == 0) {
    if ((node.caps & kCapMetaCapture) != 0) return "metadata node";
    if ((node.caps & kCapVideoCaptureMplane) != 0) {
      return "multi-planar only (a camera receiver or ISP node; libcamera drives those)";
    }
    return "not a video capture node";
  }
  if ((node.caps & kCapStreaming) == 0) return "no streaming I/O";
  if (std::none_of(node.capture_formats.begin(), node.capture_formats.end(), takes_format)) {
    std::string offered;
    for (const std::uint32_t code : node.capture_formats) {
      offered += (offered.empty() ? "" : ", ") + fourcc_name(code);
    }
    return "no format lookout takes (offers " + (offered.empty() ? "none" : offered) + ")";
  }
  return {};
}

}  // namespace

std::string Discovery::summary() const {
  std::string out;
  for (const Skipped& s : skipped) out += (out.empty() ? "" : "; ") + s.what + ": " + s.why;
  if (!libcamera_error.empty())
    out += (out.empty() ? "" : "; ") + ("libcamera: " + libcamera_error);
  return out.empty() ? "no cameras and no video devices" : out;
}

int video_node_number(const std::string& file_name) {
  constexpr std::string_view prefix = "video";
  if (file_name.size() <= prefix.size() || file_name.compare(0, prefix.size(), prefix) != 0) {
    return -1;
  }
  int n = 0;
  for (std::size_t i = prefix.size(); i < file_name.size(); ++i) {
    const char c = file_name[i];
    if (c < '0' || c > '9' || i - prefix.size() > 6) return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

Discovery rank(const SourceConfig& base, const std::vector<std::string>& libcamera_ids,
               const std::vector<V4l2Node>& nodes) {
  Discovery out;
  for (const std::string& id : libcamera_ids) {
    Candidate c{base, "libcamera:" + id};
    c.config.type = SourceType::Libcamera;
    c.config.camera = id;
    out.candidates.push_back(std::move(c));
  }
  std::vector<const V4l2Node*> ordered;
  for (const V4l2Node& node : nodes) ordered.push_back(&node);
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const V4l2Node* a, const V4l2Node* b) { return a->number < b->number; });
  for (const V4l2Node* node : ordered) {
    if (std::string why = rejection(*node); !why.empty()) {
      out.skipped.push_back({node->path, std::move(why)});
      continue;
    }
    Candidate c{base, "v4l2:" + node->path + (node->card.empty() ? "" : " (" + node->card + ")")};
    c.config.type = SourceType::V4l2;
    c.config.device = node->path;
    out.candidates.push_back(std::move(c));
  }
  return out;
}

std::vector<std::string> capture_node_names(const std::filesystem::path& dev) {
  std::vector<std::string> names;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dev, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (video_node_number(name) >= 0 || name.rfind("media", 0) == 0) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

#if LOOKOUT_WITH_V4L2
std::vector<V4l2Node> list_v4l2_nodes(const std::filesystem::path& dev) {
  std::vector<V4l2Node> nodes;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dev, ec), end; !ec && it != end; it.increment(ec)) {
    const int number = video_node_number(it->path().filename().string());
    if (number < 0) continue;
    struct stat st {};
    if (::stat(it->path().c_str(), &st) != 0 || !S_ISCHR(st.st_mode)) continue;
    nodes.push_back(probe_v4l2_node(it->path().string(), number));
  }
  return nodes;
}
#else
std::vector<V4l2Node> list_v4l2_nodes(const std::filesystem::path&) {
  return {};
}
#endif

std::vector<std::string> list_libcamera_ids() {
#if LOOKOUT_WITH_LIBCAMERA
  return list_libcamera_cameras();
#else
  return {};
#endif
}

Discovery discover(const SourceConfig& base, bool ask_libcamera) {
  std::vector<std::string> ids;
  std::string libcamera_error;
  try {
    if (ask_libcamera) ids = list_libcamera_ids();
  } catch (const SourceError& e) {
    libcamera_error = e.what();
  }
  Discovery out = rank(base, ids, list_v4l2_nodes());
  out.libcamera_error = std::move(libcamera_error);
  return out;
}

}  // namespace lookout::discovery
