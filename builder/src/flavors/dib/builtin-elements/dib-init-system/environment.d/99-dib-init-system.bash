if [ -z "${DIB_INIT_SYSTEM:-}" ]; then
    echo "DIB_INIT_SYSTEM is not set! Can not continue"
    exit 1
fi
case $DIB_INIT_SYSTEM in
    upstart|openrc|systemd|sysv) ;;
    *)
        echo "Unrecognised init system: ${DIB_INIT_SYSTEM}! Can not continue"
        exit 1
        ;;
esac
