#include "core/stream_url.hpp"

#include <array>
#include <cctype>
#include <string_view>

namespace lookout {

namespace {

constexpr std::array<std::string_view, 4> kSchemes = {"rtsp", "rtsps", "http", "https"};

// Where the authority starts (after "scheme://"), or npos.
std::size_t authority_start(const std::string& url) {
  const auto colon = url.find("://");
  return colon == std::string::npos ? std::string::npos : colon + 3;
}

// The authority's end: the first '/', '?' or '#' after its start.
std::size_t authority_end(const std::string& url, std::size_t start) {
  const auto end = url.find_first_of("/?#", start);
  return end == std::string::npos ? url.size() : end;
}

}  // namespace

std::string stream_url_problem(const std::string& url) {
  if (url.empty()) return "required for source type stream (rtsp://, http(s):// or an HLS URL)";
  for (const char c : url) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return "a URL has no spaces or control characters (escape them as %20 and the like)";
    }
  }
  const auto start = authority_start(url);
  std::string scheme = start == std::string::npos ? std::string() : url.substr(0, start - 3);
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  bool known = false;
  for (const auto s : kSchemes) known = known || scheme == s;
  if (!known) {
    return "'" + redact_url(url) +
           "' is not an rtsp://, rtsps://, http:// or https:// URL (a file is source type files)";
  }
  const auto end = authority_end(url, start);
  const std::string authority = url.substr(start, end - start);
  if (authority.find('@') != std::string::npos) {
    return "credentials do not belong in the URL, which is logged and shown; put user:password "
           "in a file and name it in source.credentials_file";
  }
  if (authority.empty() || authority[0] == ':') return "the URL names no host";
  return {};
}

namespace {

// RFC 3986 percent-encoding of everything but the unreserved characters, so
// that a password holding '@', ':' or '/' stays one field.
std::string percent_encoded(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

std::string url_with_credentials(const std::string& url, const std::string& credentials) {
  const auto start = authority_start(url);
  if (credentials.empty() || start == std::string::npos) return url;
  const auto colon = credentials.find(':');
  std::string userinfo = percent_encoded(credentials.substr(0, colon));
  if (colon != std::string::npos) userinfo += ":" + percent_encoded(credentials.substr(colon + 1));
  return url.substr(0, start) + userinfo + "@" + url.substr(start);
}

std::string redact_url(const std::string& url) {
  const auto start = authority_start(url);
  if (start == std::string::npos) return url.substr(0, url.find_first_of("?#"));
  const auto end = authority_end(url, start);
  std::string authority = url.substr(start, end - start);
  if (const auto at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  std::string rest = url.substr(end);
  if (const auto q = rest.find('?'); q != std::string::npos) rest = rest.substr(0, q) + "?...";
  return url.substr(0, start) + authority + rest;
}

}  // namespace lookout
