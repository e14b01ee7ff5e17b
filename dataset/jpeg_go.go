//go:build !cgo || noturbojpeg

package dataset

import "image"

// jpegLibrary names the JPEG decoder of this build.
const jpegLibrary = "image/jpeg"

// decodeJPEG reports false: this build decodes JPEG with image/jpeg only.
func decodeJPEG(data []byte, w, h int) (image.Image, bool) { return nil, false }
