// The web viewer lookoutd serves at GET /: one HTML page with its CSS and
// JavaScript inline (app/daemon/viewer/index.html), compiled in at build time.
#pragma once

#include <string_view>

namespace lookout::viewer {

// The viewer page (app/daemon/viewer/index.html), compiled in. Any thread.
std::string_view page();

}  // namespace lookout::viewer
