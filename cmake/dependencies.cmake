# Every dependency comes from a Debian 12 package (see scripts/install-deps).
find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(ZLIB REQUIRED)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(Boost 1.81.0 EXACT CONFIG REQUIRED)
find_package(GTest REQUIRED)

# Asio + Beast + OpenSSL as one interface target, with a precompiled header so that the
# coroutine-heavy translation units compile in reasonable time on small machines.
add_library(hubgate_asio INTERFACE)
target_link_libraries(hubgate_asio INTERFACE Boost::headers OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
# (Do not define BOOST_ASIO_HAS_IO_URING_AS_DEFAULT, not even as 0: Asio tests it with
# `defined()`, so any definition selects the io_uring backend, which is not compiled in.)
target_compile_definitions(hubgate_asio INTERFACE
  BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW)

# Scanner (src/scan): zlib, xz/lzma and bzip2 for joblib and zip members; YARA and ClamAV hooks
# are optional at build time but on by default, and CI builds and tests both.
find_package(LibLZMA REQUIRED)
find_package(BZip2 REQUIRED)
find_package(PkgConfig REQUIRED)
option(HUBGATE_YARA "Build the YARA signature hook (libyara)" ON)
option(HUBGATE_CLAMAV "Build the ClamAV signature hook (libclamav)" ON)
add_library(hubgate_scan_deps INTERFACE)
target_link_libraries(hubgate_scan_deps INTERFACE ZLIB::ZLIB LibLZMA::LibLZMA BZip2::BZip2 OpenSSL::Crypto)
if(HUBGATE_YARA)
  pkg_check_modules(YARA REQUIRED IMPORTED_TARGET yara)
  target_link_libraries(hubgate_scan_deps INTERFACE PkgConfig::YARA)
  target_compile_definitions(hubgate_scan_deps INTERFACE HUBGATE_HAVE_YARA=1)
endif()
if(HUBGATE_CLAMAV)
  pkg_check_modules(CLAMAV REQUIRED IMPORTED_TARGET libclamav)
  target_link_libraries(hubgate_scan_deps INTERFACE PkgConfig::CLAMAV)
  target_compile_definitions(hubgate_scan_deps INTERFACE HUBGATE_HAVE_CLAMAV=1)
endif()
