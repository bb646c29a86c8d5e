{
  "targets": [
    {
      "target_name": "lguest_native",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/memory.cc",
        "native/locks.cc",
        "native/tap.cc",
        "native/poll.cc",
        "native/termios.cc",
        "native/process.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"]
    }
  ]
}
