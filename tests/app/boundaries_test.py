#!/usr/bin/env python3
"""The library boundaries of app/CMakeLists.txt and drivers/, as the build enforces them.

1. Includes: each library's own translation units are compiled again
   (-fsyntax-only, with the exact command from compile_commands.json) on a
   probe file that includes one header. Another library's private header, or
   a public header of a library it does not depend on, must not be found;
   the headers it may use must compile.
2. Links: lookoutd's link line holds no CLI object (bench, watch, draw,
   detect, inspect), lookout's no daemon object (server, pipeline, daemon,
   notify) and neither libsystemd nor yaml-cpp; the executables' NEEDED
   entries agree.

Usage: boundaries_test.py BUILD_DIR. Works with the Ninja and Makefile
generators, native or cross (readelf and ar read any ELF).
"""

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

build = os.path.abspath(sys.argv[1])
failures = []


def fail(message):
    failures.append(message)
    print("FAIL: " + message)


# ---- includes -----------------------------------------------------------------------------

with open(os.path.join(build, "compile_commands.json")) as f:
    commands = json.load(f)


def command_for(source_suffix):
    for entry in commands:
        if entry["file"].endswith(source_suffix):
            return entry
    raise SystemExit(f"no compile command for {source_suffix} in {build}/compile_commands.json")


def probe_command(entry, probe):
    """The entry's command with its source swapped for `probe`, checking syntax only and
    writing nothing (no object, no dependency file)."""
    args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    out = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in ("-o", "-MF", "-MT", "-MQ", "-c"):
            skip = True
            continue
        if arg in ("-MD", "-MMD") or arg == entry["file"]:
            continue
        out.append(arg)
    return out + ["-fsyntax-only", probe]


def compiles(entry, header):
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "probe.cpp")
        with open(probe, "w") as f:
            f.write(f'#include "{header}"\nint lookout_probe;\n')
        r = subprocess.run(probe_command(entry, probe), cwd=entry["directory"],
                           capture_output=True, text=True)
        if r.returncode != 0 and "No such file or directory" not in r.stderr:
            raise SystemExit(f"probe of {header} failed for another reason:\n{r.stderr}")
        return r.returncode == 0


# library: (one of its sources, headers it may include, headers it must not see)
boundaries = {
    "lookout_core": ("app/core/frame.cpp",
                     ["core/log.hpp", "core/enum_names.hpp", "core/source_config.hpp"],
                     ["drivers/source.hpp", "engine/engine.hpp", "config/config.hpp"]),
    "lookout_engine_core": ("app/engine/letterbox.cpp",
                            ["engine/engine.hpp", "core/frame.hpp"],
                            ["drivers/source.hpp", "config/config.hpp", "daemon/daemon.hpp"]),
    "lookout_drivers": ("drivers/factory.cpp",
                        ["drivers/factory.hpp", "core/source_config.hpp", "common/frame_util.hpp"],
                        ["factory.hpp", "source.hpp", "engine/engine.hpp", "config/config.hpp",
                         "daemon/daemon.hpp", "core/config.hpp"]),
    "lookout_config": ("app/config/config.cpp",
                       ["config/config.hpp", "engine/engine.hpp", "core/log.hpp"],
                       ["drivers/factory.hpp", "daemon/daemon.hpp", "cli/commands.hpp",
                        "preprocess.hpp", "engine/preprocess.hpp"]),
    "lookout_daemon": ("app/daemon/server.cpp",
                       ["daemon/daemon.hpp", "config/config.hpp", "drivers/supervised_source.hpp",
                        "engine/engine.hpp"],
                       ["files/files_source.hpp", "common/frame_util.hpp", "cli/commands.hpp",
                        "letterbox.hpp", "engine/letterbox.hpp"]),
    "lookout_cli": ("app/cli/bench_command.cpp",
                    ["cli/commands.hpp", "drivers/factory.hpp", "engine/prepare_ahead.hpp"],
                    ["files/image_decoder.hpp", "common/frame_util.hpp", "pipeline.hpp",
                     "daemon/pipeline.hpp", "daemon/daemon.hpp", "config/config.hpp",
                     "preprocess.hpp"]),
    "lookoutd": ("app/lookoutd/main.cpp",
                 ["daemon/daemon.hpp", "config/config.hpp", "drivers/source.hpp"],
                 ["pipeline.hpp", "server.hpp", "cli/commands.hpp", "draw.hpp"]),
    "lookout": ("app/lookout/main.cpp",
                ["cli/commands.hpp", "cli/enum_option.hpp", "engine/engine.hpp"],
                ["daemon/daemon.hpp", "config/config.hpp", "draw.hpp", "image_io.hpp",
                 "server.hpp"]),
}

for library, (source, allowed, forbidden) in boundaries.items():
    entry = command_for(source)
    for header in allowed:
        if not compiles(entry, header):
            fail(f"{library} ({source}) cannot include \"{header}\", which it may use")
    for header in forbidden:
        if compiles(entry, header):
            fail(f"{library} ({source}) can include \"{header}\" across its boundary")
print(f"includes: {sum(len(a) + len(f) for _, a, f in boundaries.values())} probes")

# ---- links --------------------------------------------------------------------------------


def link_line(target):
    ninja = os.path.join(build, "build.ninja")
    if os.path.exists(ninja):
        text = open(ninja).read()
        # The link edge of the executable, then its LINK_LIBRARIES variable.
        m = re.search(r"^build app/" + re.escape(target) + r": CXX_EXECUTABLE_LINKER\S*(.*?)\n(?=\S|\n)",
                      text, re.M | re.S)
        if not m:
            raise SystemExit(f"no link edge for {target} in build.ninja")
        libs = re.search(r"^\s+LINK_LIBRARIES = (.*)$", m.group(1), re.M)
        return shlex.split(libs.group(1)) if libs else []
    link_txt = os.path.join(build, "app", "CMakeFiles", target + ".dir", "link.txt")
    return shlex.split(open(link_txt).read())


def archive_members(path):
    r = subprocess.run(["ar", "t", path], capture_output=True, text=True, check=True)
    return r.stdout.split()


def archive_path(arg):
    """build.ninja names archives relative to the build directory, a Makefile's
    link.txt relative to the executable's directory (app/)."""
    for base in ("", build, os.path.join(build, "app")):
        path = os.path.join(base, arg)
        if os.path.exists(path):
            return path
    raise SystemExit(f"archive {arg} on a link line does not exist")


def objects_linked(target):
    """Object files of the project's archives on the target's link line."""
    objects = set()
    for arg in link_line(target):
        if arg.endswith(".a") and os.path.basename(arg).startswith("liblookout"):
            objects.update(archive_members(archive_path(arg)))
    return objects


def needed(target):
    r = subprocess.run(["readelf", "-d", os.path.join(build, "app", target)],
                       capture_output=True, text=True, check=True)
    return re.findall(r"\(NEEDED\).*\[(.*)\]", r.stdout)


cli_objects = {"bench_command.cpp.o", "watch_command.cpp.o", "draw.cpp.o", "detect_command.cpp.o",
               "inspect_command.cpp.o", "image_io.cpp.o"}
daemon_objects = {"server.cpp.o", "pipeline.cpp.o", "daemon.cpp.o", "notify.cpp.o",
                  "protocol.cpp.o"}
config_objects = {"config.cpp.o", "schema.cpp.o"}

lookoutd = objects_linked("lookoutd")
lookout = objects_linked("lookout")
if not daemon_objects <= lookoutd:
    fail(f"lookoutd's link line lacks daemon objects (the check looks at the wrong thing?): {sorted(lookoutd)}")
if cli_objects & lookoutd:
    fail(f"lookoutd links CLI code: {sorted(cli_objects & lookoutd)}")
if not {"bench_command.cpp.o", "watch_command.cpp.o"} <= lookout:
    fail(f"lookout's link line lacks the CLI objects: {sorted(lookout)}")
if daemon_objects & lookout:
    fail(f"lookout links the daemon: {sorted(daemon_objects & lookout)}")
if config_objects & lookout:
    fail(f"lookout links the configuration reader: {sorted(config_objects & lookout)}")
lookout_line = " ".join(link_line("lookout"))
for lib in ("systemd", "yaml-cpp"):
    if lib in lookout_line:
        fail(f"lookout's link line names {lib}")
    if any(lib in n for n in needed("lookout")):
        fail(f"lookout needs {lib} at run time: {needed('lookout')}")
print(f"links: lookoutd {len(lookoutd)} objects, lookout {len(lookout)} objects")

if failures:
    print(f"{len(failures)} boundary problems")
    sys.exit(1)
print("all boundaries hold")
