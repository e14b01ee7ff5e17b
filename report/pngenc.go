package report

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"io"
	"sync"
)

// The PNG writer for the pictures crd makes (heat maps, gallery pictures, masks): 8-bit RGB or greyscale, one
// IDAT chunk. It decodes to exactly the pixels image/png would have written for the same image, in a fraction of
// image/png's time at BestSpeed, which tries five filters on every row and compresses with LZ77 matching:
//
//   - colour pictures (heat maps over photographs) use the Sub filter on every row and Huffman coding alone
//     (zlib.HuffmanOnly): a photograph's texture leaves LZ77 few matches to find, and the files come out about
//     as large as image/png's at BestSpeed (ball_screw heat maps: 148 KB against 161 KB);
//   - greyscale pictures (the binary defect masks: long runs of 0 and 255) use no filter and zlib.BestSpeed,
//     whose matching turns the runs into a few hundred bytes.

// pngSignature starts every PNG file.
const pngSignature = "\x89PNG\r\n\x1a\n"

// PNG colour types (the IHDR field).
const (
	pngGrey = 0
	pngRGB  = 2
)

// zlibPools recycle the compressors (each holds a few hundred KB of tables) of the two levels used, by level.
var zlibPools = map[int]*sync.Pool{zlib.BestSpeed: {}, zlib.HuffmanOnly: {}}

// pngBuffers recycle the compressed-data buffers.
var pngBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// getZlib returns a compressor at level writing to w, from the pool.
func getZlib(w io.Writer, level int) *zlib.Writer {
	if z, ok := zlibPools[level].Get().(*zlib.Writer); ok {
		z.Reset(w)
		return z
	}
	z, err := zlib.NewWriterLevel(w, level)
	if err != nil {
		panic(err) // levels are constants of this file
	}
	return z
}

// putZlib hands z back to the pool of level.
func putZlib(z *zlib.Writer, level int) { zlibPools[level].Put(z) }

// encodeFastPNG encodes img as PNG to w when it is an opaque *image.RGBA or an *image.Gray, and reports whether
// it did; other images are left to image/png.
func encodeFastPNG(w io.Writer, img image.Image) (bool, error) {
	switch m := img.(type) {
	case *image.RGBA:
		if !m.Opaque() {
			return false, nil
		}
		b := m.Rect
		return true, encodePNGRows(w, b.Dx(), b.Dy(), pngRGB, func(y int, row []byte) {
			src := m.Pix[y*m.Stride : y*m.Stride+4*b.Dx()]
			for x := range b.Dx() {
				row[3*x], row[3*x+1], row[3*x+2] = src[4*x], src[4*x+1], src[4*x+2]
			}
		})
	case *image.Gray:
		b := m.Rect
		return true, encodePNGRows(w, b.Dx(), b.Dy(), pngGrey, func(y int, row []byte) {
			copy(row, m.Pix[y*m.Stride:y*m.Stride+b.Dx()])
		})
	}
	return false, nil
}

// encodePNGRows writes a width x height 8-bit PNG of colour type ct (pngRGB or pngGrey) to w; fill(y, row) sets
// row y's pixels (3 or 1 bytes each). RGB rows are Sub-filtered and Huffman-coded, grey rows stored unfiltered
// and compressed at BestSpeed (see the top of this file).
func encodePNGRows(w io.Writer, width, height int, ct byte, fill func(y int, row []byte)) error {
	bpp, filter, level := 1, byte(0), zlib.BestSpeed
	if ct == pngRGB {
		bpp, filter, level = 3, 1, zlib.HuffmanOnly
	}
	n := width * bpp
	buf := pngBuffers.Get().(*bytes.Buffer)
	defer pngBuffers.Put(buf)
	buf.Reset()
	z := getZlib(buf, level)
	defer putZlib(z, level)
	pix := make([]byte, n)
	line := make([]byte, 1+n) // the filter byte, then the filtered row
	line[0] = filter
	for y := range height {
		fill(y, pix)
		if filter == 1 {
			copy(line[1:1+bpp], pix[:bpp])
			for i := bpp; i < n; i++ {
				line[1+i] = pix[i] - pix[i-bpp]
			}
		} else {
			copy(line[1:], pix)
		}
		if _, err := z.Write(line); err != nil {
			return err
		}
	}
	if err := z.Close(); err != nil {
		return err
	}
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(width))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(height))
	ihdr[8], ihdr[9] = 8, ct // bit depth, colour type; compression, filter and interlace methods 0
	if _, err := io.WriteString(w, pngSignature); err != nil {
		return err
	}
	if err := writeChunk(w, "IHDR", ihdr[:]); err != nil {
		return err
	}
	for data := buf.Bytes(); len(data) > 0; {
		k := min(len(data), maxIDAT)
		if err := writeChunk(w, "IDAT", data[:k]); err != nil {
			return err
		}
		data = data[k:]
	}
	return writeChunk(w, "IEND", nil)
}

// maxIDAT is the most compressed bytes one IDAT chunk carries (PNG allows 2^31-1).
const maxIDAT = 1 << 24

// writeChunk writes one PNG chunk: length, type, data, CRC of type and data.
func writeChunk(w io.Writer, typ string, data []byte) error {
	var head [8]byte
	binary.BigEndian.PutUint32(head[:4], uint32(len(data)))
	copy(head[4:], typ)
	crc := crc32.Update(crc32.ChecksumIEEE(head[4:]), crc32.IEEETable, data)
	var tail [4]byte
	binary.BigEndian.PutUint32(tail[:], crc)
	for _, b := range [][]byte{head[:], data, tail[:]} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}
