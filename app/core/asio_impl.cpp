// Boost.Asio's implementation, compiled once for lookout_asio and everything
// linking it (BOOST_ASIO_SEPARATE_COMPILATION), instead of in every
// translation unit that uses Asio.
#include <boost/asio/impl/src.hpp>
