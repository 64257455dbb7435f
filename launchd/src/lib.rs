//! LaunchAgent plist and systemd user unit generation, and the launchctl/systemctl drivers.
