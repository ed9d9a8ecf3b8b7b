#include "common/fourcc.hpp"

namespace lookout {

std::string fourcc_name(std::uint32_t code) {
  std::string name(4, '?');
  for (std::size_t i = 0; i < 4; ++i) {
    const auto c = static_cast<unsigned char>((code >> (8 * i)) & 0xFF);
    if (c >= 0x20 && c < 0x7F) name[i] = static_cast<char>(c);
  }
  while (!name.empty() && name.back() == ' ') name.pop_back();
  return name;
}

}  // namespace lookout
