package modelfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// seal wraps a body (the header and arrays) in a valid container: magic,
// version, length and CRC, then the SHA-256 trailer, so that the fuzzer
// reaches the parser behind the checksums.
func seal(body []byte) []byte {
	b := make([]byte, prefixLen, prefixLen+len(body)+trailerLen)
	le := binary.LittleEndian
	copy(b, Magic)
	le.PutUint32(b[len(Magic):], Version)
	le.PutUint64(b[len(Magic)+4:], uint64(prefixLen+len(body)+trailerLen))
	le.PutUint32(b[prefixLen-4:], crc32.ChecksumIEEE(b[:prefixLen-4]))
	b = append(b, body...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// TestSeal: seal rebuilds an encoded file from its body.
func TestSeal(t *testing.T) {
	b, err := Encode(sample())
	if err != nil {
		t.Fatal(err)
	}
	if got := seal(b[prefixLen : len(b)-trailerLen]); !bytes.Equal(got, b) {
		t.Fatal("seal(body) differs from Encode's bytes")
	}
}

// FuzzDecode: any body, sealed with valid checksums, decodes to a file that
// encodes back to the same bytes, or gives an error; never a panic. The
// seed corpus is the test sample's body and, in testdata/fuzz/FuzzDecode,
// that of a kNN model (larger seeds make the fuzzer's minimisation slow).
func FuzzDecode(f *testing.F) {
	if b, err := Encode(sample()); err == nil {
		f.Add(b[prefixLen : len(b)-trailerLen])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b := seal(body)
		file, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Encode(file)
		if err != nil {
			t.Fatalf("decoded file does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatal("decoded file encodes to other bytes")
		}
	})
}
