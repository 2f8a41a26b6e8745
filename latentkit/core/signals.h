#pragma once
// SIGINT / SIGTERM as a request to stop: long work polls stop_requested() and ends cleanly.
namespace latentkit {

/// Installs handlers for SIGINT and SIGTERM that set the stop flag (a second SIGINT kills).
void install_stop_handlers();
bool stop_requested();
/// For tests and for code that wants to stop programmatically.
void request_stop();
void clear_stop_request();

}  // namespace latentkit
