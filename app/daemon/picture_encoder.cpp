#include "picture_encoder.hpp"

#include <pthread.h>

#include <ctime>
#include <exception>

#include "core/jpeg.hpp"
#include "picture/annotate.hpp"

namespace lookout {

namespace {

double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

PictureEncoder::PictureEncoder(Done done) : done_(std::move(done)) {
  thread_ = std::thread([this] { run(); });
}

PictureEncoder::~PictureEncoder() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void PictureEncoder::submit(std::shared_ptr<const PublishedFrame> frame,
                            const PictureVariant& variant) {
  {
    std::lock_guard lock(mutex_);
    jobs_[variant] = std::move(frame);
  }
  wake_.notify_one();
}

void PictureEncoder::run() {
  pthread_setname_np(pthread_self(), "jpeg-encoder");
  // The codec handles live on this thread for its whole life (turbojpeg
  // handles are not thread-safe, and creating them per picture costs).
  jpeg::Decompressor decompressor;
  jpeg::Compressor compressor;
  for (;;) {
    PictureVariant variant;
    std::shared_ptr<const PublishedFrame> frame;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      auto first = jobs_.begin();
      variant = first->first;
      frame = std::move(first->second);
      jobs_.erase(first);
    }
    EncodedPicture out;
    out.variant = variant;
    const double started = thread_cpu_seconds();
    try {
      picture::JpegOptions options;
      options.width = variant.width;
      options.boxes = variant.boxes;
      options.quality = variant.quality;
      const auto& names = frame->frame.class_names;
      static const std::vector<std::string> kNoNames;
      out.jpeg = std::make_shared<const std::string>(picture::annotated_jpeg(
          decompressor, compressor, *frame->picture, frame->frame.width, frame->frame.height,
          frame->frame.detections, names ? *names : kNoNames, options));
    } catch (const std::exception& e) {
      out.error = e.what();
    }
    out.cpu_seconds = thread_cpu_seconds() - started;
    out.frame = std::move(frame);
    done_(std::move(out));
  }
}

}  // namespace lookout
