// URLs of the stream source (source.type: stream): which are taken, how they
// are shown, and how credentials are put into them. Shared by the
// configuration (which checks a URL where it is written) and the driver.
//
// Plain functions; any thread.
#pragma once

#include <string>

namespace lookout {

// Empty when `url` is one the stream source opens: rtsp://, rtsps://,
// http:// or https://, a host, and no credentials (those belong in
// source.credentials_file, not in a YAML file others read). Otherwise what
// is wrong, for the configuration's message.
std::string stream_url_problem(const std::string& url);

// `url` with `credentials` ("user:password", or "user") put after the scheme
// as "user:password@", each part percent-encoded (a password may hold '@',
// ':' or '/'); `url` as it is when `credentials` is empty.
std::string url_with_credentials(const std::string& url, const std::string& credentials);

// `url` fit to be logged or published: any user information is dropped, and
// the query (where some cameras take a token) is shown as "?...".
std::string redact_url(const std::string& url);

}  // namespace lookout
