// Files and video end to end through the real daemon: lookoutd reads a
// directory of JPEG scenes (drawn by the synthetic source, so their truth is
// known) or a video file, runs the shipped model, and publishes detections to a
// real TCP client. Checks frame sizes, sequence numbers and that the published
// boxes find the objects drawn into the files.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "drivers/factory.hpp"
#include "harness.hpp"
#include "testing/media.hpp"

namespace lookout::test {
namespace {

std::string files_config(const TempDir& dir, const std::filesystem::path& path, bool loop) {
  std::string yaml = DaemonConfig{}.yaml(dir);
  const std::string synthetic = "type: synthetic\n  width: 320\n  height: 240\n  fps: 20\n";
  const auto at = yaml.find(synthetic);
  REQUIRE(at != std::string::npos);
  yaml.replace(at, synthetic.size(),
               "type: files\n  width: 0\n  height: 0\n  fps: 10\n  path: " + path.string() +
                   "\n  loop: " + (loop ? "true" : "false") + "\n");
  return yaml;
}

float iou(const LabelledBox& t, const json& box) {
  const float x1 = std::max(t.x1, box[0].get<float>());
  const float y1 = std::max(t.y1, box[1].get<float>());
  const float x2 = std::min(t.x2, box[2].get<float>());
  const float y2 = std::min(t.y2, box[3].get<float>());
  const float inter = std::max(0.f, x2 - x1) * std::max(0.f, y2 - y1);
  const float a = (t.x2 - t.x1) * (t.y2 - t.y1);
  const float b =
      (box[2].get<float>() - box[0].get<float>()) * (box[3].get<float>() - box[1].get<float>());
  return inter / (a + b - inter);
}

std::optional<json> next_of_type(Client& client, const std::string& type) {
  for (int i = 0; i < 200; ++i) {
    auto message = client.next();
    if (!message) return std::nullopt;
    if ((*message)["type"] == type) return message;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("a directory of JPEG scenes is detected through lookoutd") {
  TempDir dir;
  const auto images = dir / "images";
  std::filesystem::create_directories(images);

  // Three scenes of the synthetic source, saved as JPEG files in name order.
  SourceConfig scene_config;
  scene_config.type = lookout::SourceType::Synthetic;
  scene_config.width = 480;
  scene_config.height = 360;
  scene_config.fps = 0;
  scene_config.seed = 11;
  auto scenes = make_source(scene_config);
  scenes->start();
  std::vector<std::vector<LabelledBox>> truth;
  for (int i = 0; i < 3; ++i) {
    auto result = scenes->next_frame(std::chrono::seconds(5));
    REQUIRE(result.status == FrameResult::Status::Ok);
    const Frame& frame = *result.frame;
    REQUIRE(frame.format == PixelFormat::RGB24);
    std::vector<std::uint8_t> rgb(static_cast<std::size_t>(frame.width * frame.height * 3));
    for (int y = 0; y < frame.height; ++y) {
      std::copy_n(frame.planes[0].data + static_cast<std::size_t>(y) * frame.planes[0].stride,
                  frame.width * 3, rgb.data() + static_cast<std::size_t>(y * frame.width * 3));
    }
    write_jpeg(images / ("scene-" + std::to_string(i) + ".jpg"), rgb, frame.width, frame.height);
    truth.push_back(frame.truth);
  }
  scenes->stop();

  const auto config = dir.write("lookout.yaml", files_config(dir, images, /*loop=*/true));
  Daemon daemon(dir, config);
  REQUIRE_MESSAGE(daemon.wait_ready(), daemon.log());
  Client client = Client::tcp(daemon.tcp_port());
  REQUIRE(next_of_type(client, "hello"));

  // Every published frame has the files' size; sequence numbers increase; the
  // boxes land on the drawn objects (the frame shown is seq % 3 of the loop).
  int matched = 0;
  int objects = 0;
  std::uint64_t last_seq = 0;
  for (int n = 0; n < 6; ++n) {
    auto detections = next_of_type(client, "detections");
    REQUIRE_MESSAGE(detections, daemon.log());
    CHECK((*detections)["frame"]["width"] == 480);
    CHECK((*detections)["frame"]["height"] == 360);
    const auto seq = (*detections)["seq"].get<std::uint64_t>();
    if (n > 0) CHECK(seq > last_seq);
    last_seq = seq;
    for (const auto& t : truth[seq % 3]) {
      ++objects;
      for (const auto& d : (*detections)["detections"]) {
        if (d["class_id"] == t.class_id && iou(t, d["box"]) >= 0.5f) {
          ++matched;
          break;
        }
      }
    }
  }
  // Once frames flow, the size the files really have is in every new hello
  // (before the first frame the configured 0x0, "as stored", is all it knows).
  Client late = Client::tcp(daemon.tcp_port());
  auto hello = next_of_type(late, "hello");
  REQUIRE(hello);
  CHECK((*hello)["source"]["width"] == 480);
  CHECK((*hello)["source"]["height"] == 360);

  INFO("matched " << matched << " of " << objects << " drawn objects");
  CHECK(objects > 0);
  CHECK(matched >= objects * 8 / 10);
}

#ifdef LOOKOUT_WITH_FFMPEG
TEST_CASE("images of any shape and size never take lookoutd down") {
  TempDir dir;
  const auto images = dir / "images";
  std::filesystem::create_directories(images);
  // 1x640 and 640x1 once made the letterbox 0 pixels wide and libyuv abort
  // the process; a tiny JPEG declaring 30000x30000 would cost 2.7 GB.
  write_png(images / "a-thin.png", std::vector<std::uint8_t>(640 * 3, 90), 1, 640);
  write_png(images / "b-flat.png", std::vector<std::uint8_t>(640 * 3, 90), 640, 1);
  auto bomb = encode_jpeg(quadrants(64, 64), 64, 64);
  for (std::size_t i = 2; i + 8 < bomb.size();) {
    if (bomb[i + 1] == 0xC0) {
      bomb[i + 5] = bomb[i + 7] = 30000 >> 8;
      bomb[i + 6] = bomb[i + 8] = 30000 & 0xFF;
      break;
    }
    i += 2 + ((bomb[i + 2] << 8) | bomb[i + 3]);
  }
  write_bytes(images / "c-bomb.jpg", std::string(bomb.begin(), bomb.end()));
  write_jpeg(images / "d-scene.jpg", quadrants(64, 48), 64, 48);
  write_bytes(images / "e-scene.ppm", encode_ppm(quadrants(48, 32), 48, 32));
  write_bytes(images / "f-scene.bmp", encode_bmp(quadrants(40, 30), 40, 30));
  // Cut short, or garbage after the right first bytes: skipped and counted.
  const auto png = dir / "whole.png";
  write_png(png, quadrants(64, 48), 64, 48);
  write_bytes(images / "g-cut.png", read_bytes(png).substr(0, 60));
  write_bytes(images / "h-garbage.bmp", "BM" + std::string(40, '\xff'));
  const auto config = dir.write("lookout.yaml", files_config(dir, images, /*loop=*/true));
  Daemon daemon(dir, config);
  REQUIRE_MESSAGE(daemon.wait_ready(), daemon.log());
  Client client = Client::tcp(daemon.tcp_port());
  std::set<std::pair<int, int>> sizes;
  for (int n = 0; n < 20 && sizes.size() < 5; ++n) {
    auto detections = next_of_type(client, "detections");
    REQUIRE_MESSAGE(detections, daemon.log());
    sizes.insert(
        {(*detections)["frame"]["width"].get<int>(), (*detections)["frame"]["height"].get<int>()});
  }
  // Every image but the refused ones is detected on, round after round.
  CHECK(sizes == std::set<std::pair<int, int>>{{1, 640}, {640, 1}, {64, 48}, {48, 32}, {40, 30}});
  // The three that cannot be used are counted as errors in stats, each time
  // round: 3 of every 8 frames captured.
  std::optional<json> stats;
  for (int n = 0; n < 10; ++n) {
    stats = next_of_type(client, "stats");
    REQUIRE_MESSAGE(stats, daemon.log());
    if ((*stats)["frames"]["errors"].get<int>() >= 6) break;
  }
  const auto& frames = (*stats)["frames"];
  CHECK(frames["errors"].get<int>() >= 6);
  CHECK(frames["processed"].get<int>() >= 10);
  CHECK(frames["errors"].get<double>() <= 0.5 * frames["captured"].get<double>());
  CHECK_FALSE(daemon.exited());
  const std::string log = daemon.log();
  CHECK(log.find("c-bomb.jpg: image is 30000x30000") != std::string::npos);
  CHECK(log.find("g-cut.png") != std::string::npos);
  CHECK(log.find("h-garbage.bmp") != std::string::npos);
}

TEST_CASE("a video file is decoded and published through lookoutd") {
  TempDir dir;
  const auto video = dir / "clip.avi";
  write_video(video, "mpeg4", 320, 240, 12, 25);
  const auto config = dir.write("lookout.yaml", files_config(dir, video, /*loop=*/false));
  Daemon daemon(dir, config);
  REQUIRE_MESSAGE(daemon.wait_ready(), daemon.log());
  Client client = Client::tcp(daemon.tcp_port());
  REQUIRE(next_of_type(client, "hello"));
  auto detections = next_of_type(client, "detections");
  REQUIRE_MESSAGE(detections, daemon.log());
  CHECK((*detections)["frame"]["width"] == 320);
  CHECK((*detections)["frame"]["height"] == 240);
  // Solid colours hold no shapes: the model must not invent any.
  CHECK((*detections)["detections"].empty());
  CHECK((*detections)["seq"].get<std::uint64_t>() < 12);
}
#endif

}  // namespace lookout::test
