// Drawing detections onto an RGB picture: box outlines and a filled label
// with the class name and score, in a built-in 5x7 bitmap font (no font files
// or rendering library needed). Used by `lookout detect --save` and the
// daemon's viewer, so both draw the same boxes.
//
// Ownership: the functions draw into the caller's image and keep nothing.
// Threads: plain functions, any thread (one image per thread at a time).
// Everything is clipped to the image: coordinates may lie outside it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "picture/image.hpp"

namespace lookout::picture {

// A distinct colour per class id (ultralytics' palette order).
void class_colour(int class_id, std::uint8_t rgb[3]);

// The outline of the box from (x1, y1) to (x2, y2), corners included, drawn
// `thickness` pixels inwards.
void draw_rectangle(RgbImage& image, int x1, int y1, int x2, int y2, const std::uint8_t rgb[3],
                    int thickness);
// Fills the box from (x1, y1) to (x2, y2), corners included.
void fill_rectangle(RgbImage& image, int x1, int y1, int x2, int y2, const std::uint8_t rgb[3]);
// Draws `text` with its top-left corner at (x, y); `scale` enlarges each font
// pixel. Characters outside printable ASCII are drawn as '?'. Returns the
// advance in pixels (text_width() plus the spacing after the last glyph).
int draw_text(RgbImage& image, int x, int y, const std::string& text, const std::uint8_t rgb[3],
              int scale);
int text_width(const std::string& text, int scale);
int text_height(int scale);

// Draws each detection's box in its class colour with a label "<name>
// <score>" above it (inside it when there is no room above). The boxes are in
// the pixels of the frame the detections came from and are multiplied by
// scale_x / scale_y, for a picture of another size (picture width / frame
// width). Line width and font size follow the picture's size (as ultralytics'
// Annotator: about 0.3 % of its mean side, at least 1 pixel), so labels stay
// readable on small pictures. Class ids without a name are labelled with the
// number.
void draw_detections(RgbImage& image, const std::vector<Detection>& detections,
                     const std::vector<std::string>& class_names, float scale_x = 1,
                     float scale_y = 1);

}  // namespace lookout::picture
