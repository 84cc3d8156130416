# The operating system of a dib-flavor build: Debian, the release the build
# was given, systemd, Python 3 (DIB's dib-python would pick 2 on Debian).
export DISTRO_NAME=debian
export DIB_RELEASE=${DIB_RELEASE:?the element runner sets DIB_RELEASE}
export DIB_INIT_SYSTEM=${DIB_INIT_SYSTEM:-systemd}
export DIB_PYTHON_VERSION=3
export DIB_DEBIAN_COMPONENTS=${DIB_DEBIAN_COMPONENTS:-main}
