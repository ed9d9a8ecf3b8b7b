// Drawing detections onto an RGB image for `lookout detect --save`: box
// outlines and a filled label with the class name and score, in a built-in
// 5x7 bitmap font (no font files or rendering library needed).
//
// Plain functions; any thread.
#pragma once

#include <string>
#include <vector>

#include "image_io.hpp"
#include "engine/engine.hpp"

namespace lookout::cli {

// A distinct colour per class id (ultralytics' palette order).
void class_colour(int class_id, std::uint8_t rgb[3]);

void draw_rectangle(RgbImage& image, int x1, int y1, int x2, int y2, const std::uint8_t rgb[3],
                    int thickness);
void fill_rectangle(RgbImage& image, int x1, int y1, int x2, int y2, const std::uint8_t rgb[3]);
// Draws `text` with its top-left corner at (x, y); `scale` enlarges each font
// pixel. Returns the drawn width in pixels.
int draw_text(RgbImage& image, int x, int y, const std::string& text, const std::uint8_t rgb[3],
              int scale);
int text_width(const std::string& text, int scale);
int text_height(int scale);

void draw_detections(RgbImage& image, const std::vector<Detection>& detections,
                     const std::vector<std::string>& class_names);

}  // namespace lookout::cli
