export DIB_MANIFEST_IMAGE_DIR=${DIB_MANIFEST_IMAGE_DIR:-/etc/dib-manifests}
# DIB saves a copy beside the image (${IMAGE_NAME}.d/); ramforge only when asked.
export DIB_MANIFEST_SAVE_DIR=${DIB_MANIFEST_SAVE_DIR:-}
