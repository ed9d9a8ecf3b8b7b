// PictureEncoder: draws detections on published pictures and encodes them as
// JPEG for the HTTP server's snapshots and MJPEG streams, on a thread of its
// own, so that neither the inference thread nor the I/O thread ever encodes.
//
// One job per variant (size, boxes, quality) waits at a time: a newer picture
// for the same variant replaces a waiting one (viewers want the newest frame,
// not every frame), so the encoder never falls behind and its queue never
// grows. Each result is shared by every viewer of that variant.
//
// Ownership: the HTTP server owns the encoder; jobs share the published frame
// (which holds the picture, a small copy made by the pipeline).
//
// Threads: submit() from any thread (the I/O thread in practice); the
// callback runs on the encoder thread ("jpeg-encoder"), which the server's
// callback leaves at once by posting to the I/O thread. The destructor joins
// the thread after the job in progress.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>

#include "output.hpp"

namespace lookout {

struct PictureVariant {
  int width = 0;  // 0 = the picture's own
  bool boxes = true;
  int quality = 70;
  bool operator<(const PictureVariant& o) const {
    return std::tie(width, boxes, quality) < std::tie(o.width, o.boxes, o.quality);
  }
  bool operator==(const PictureVariant& o) const {
    return width == o.width && boxes == o.boxes && quality == o.quality;
  }
};

struct EncodedPicture {
  std::shared_ptr<const PublishedFrame> frame;
  PictureVariant variant;
  std::shared_ptr<const std::string> jpeg;  // null when encoding failed
  std::string error;                        // why, when it failed
  double cpu_seconds = 0;                   // the encoder thread's CPU time for it
};

class PictureEncoder {
 public:
  using Done = std::function<void(EncodedPicture&&)>;

  explicit PictureEncoder(Done done);
  ~PictureEncoder();
  PictureEncoder(const PictureEncoder&) = delete;
  PictureEncoder& operator=(const PictureEncoder&) = delete;

  // Queues `frame`'s picture for encoding as `variant`, replacing a job of
  // the same variant that has not started. `frame->picture` must be set.
  void submit(std::shared_ptr<const PublishedFrame> frame, const PictureVariant& variant);

 private:
  void run();

  Done done_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::map<PictureVariant, std::shared_ptr<const PublishedFrame>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace lookout
