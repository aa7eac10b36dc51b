//! A pre-scan of a pickle's opcodes, run before Candle's pickle reader sees the bytes. Candle
//! allocates a string from a BINUNICODE opcode's 32-bit length before reading it, so a crafted
//! kilobyte could ask for 4 GiB. The scan walks the protocol-2 opcodes Candle's reader knows
//! (`candle_core::pickle::OpCode`; their argument sizes follow CPython's `pickletools`) and
//! checks every declared length against the bytes the file really has. Opcodes Candle does not
//! know end the scan: Candle then reports them itself.
use std::io::{BufRead, Read};

/// Checks the pickle at the reader's position, which has at most `available` bytes. Returns
/// its length in bytes (through its STOP) or why a length cannot be true.
pub fn check_lengths<R: BufRead>(reader: &mut R, available: u64) -> Result<u64, String> {
    let mut scan = Scan {
        reader,
        position: 0,
        available,
    };
    loop {
        let at = scan.position;
        let opcode = scan.bytes(1)?[0];
        match opcode {
            // STOP: the pickle ends here.
            b'.' => return Ok(scan.position),
            // No argument.
            b')'
            | b'R'
            | b'('
            | b't'
            | b'Q'
            | b'N'
            | b's'
            | b'u'
            | b'}'
            | b'd'
            | b'b'
            | b']'
            | b'a'
            | b'e'
            | 0x81
            | 0x85..=0x89 => {}
            // PROTO, BININT1, BINPUT, BINGET: one byte.
            0x80 | b'K' | b'q' | b'h' => scan.skip(1)?,
            b'M' => scan.skip(2)?,
            b'J' | b'r' | b'j' => scan.skip(4)?,
            b'G' => scan.skip(8)?,
            // GLOBAL: module and name, each a line.
            b'c' => {
                scan.line()?;
                scan.line()?;
            }
            b'X' => {
                let length = u32::from_le_bytes(scan.array()?);
                scan.declared(at, "BINUNICODE", u64::from(length))?;
            }
            0x8a => {
                let length = scan.bytes(1)?[0];
                scan.skip(u64::from(length))?;
            }
            _ => return Ok(scan.position),
        }
    }
}

struct Scan<'a, R> {
    reader: &'a mut R,
    position: u64,
    available: u64,
}

impl<R: BufRead> Scan<'_, R> {
    fn left(&self) -> u64 {
        self.available.saturating_sub(self.position)
    }

    fn bytes(&mut self, count: usize) -> Result<Vec<u8>, String> {
        self.need(count as u64)?;
        let mut buffer = vec![0u8; count];
        self.reader
            .read_exact(&mut buffer)
            .map_err(|e| format!("pickle ends at byte {}: {e}", self.position))?;
        self.position += count as u64;
        Ok(buffer)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let bytes = self.bytes(N)?;
        let mut array = [0u8; N];
        array.copy_from_slice(&bytes);
        Ok(array)
    }

    fn need(&self, count: u64) -> Result<(), String> {
        if count > self.left() {
            return Err(format!(
                "pickle ends at byte {}: {count} more byte(s) needed, {} left",
                self.position,
                self.left()
            ));
        }
        Ok(())
    }

    fn skip(&mut self, count: u64) -> Result<(), String> {
        self.need(count)?;
        let copied = std::io::copy(&mut self.reader.by_ref().take(count), &mut std::io::sink())
            .map_err(|e| format!("pickle at byte {}: {e}", self.position))?;
        if copied != count {
            return Err(format!("pickle ends at byte {}", self.position + copied));
        }
        self.position += count;
        Ok(())
    }

    /// A length the pickle declares for what follows the opcode at `at`.
    fn declared(&mut self, at: u64, opcode: &str, length: u64) -> Result<(), String> {
        if length > self.left() {
            return Err(format!(
                "{opcode} at byte {at} claims {length} bytes, but only {} are left in the file",
                self.left()
            ));
        }
        self.skip(length)
    }

    fn line(&mut self) -> Result<(), String> {
        let mut line = Vec::new();
        let limit = self.left();
        let read = self
            .reader
            .by_ref()
            .take(limit)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("pickle at byte {}: {e}", self.position))?;
        self.position += read as u64;
        if line.last() != Some(&b'\n') {
            return Err(format!(
                "pickle ends inside a GLOBAL at byte {}",
                self.position
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_pickle_scans_to_its_stop_and_a_huge_string_is_refused() {
        // PROTO 2, BINUNICODE "ab", STOP.
        let good = [0x80, 2, b'X', 2, 0, 0, 0, b'a', b'b', b'.'];
        assert_eq!(check_lengths(&mut &good[..], 100), Ok(10));
        // BINUNICODE claiming 4 GiB - 1 in a 16-byte file.
        let crafted = [0x80, 2, b'X', 0xff, 0xff, 0xff, 0xff, b'.'];
        let err = check_lengths(&mut &crafted[..], 16).unwrap_err();
        assert!(
            err.contains("BINUNICODE at byte 2 claims 4294967295 bytes"),
            "{err}"
        );
        let global = b"cmodule\nname\n.";
        assert_eq!(check_lengths(&mut &global[..], 64), Ok(14));
        assert!(check_lengths(&mut &b"cmodule"[..], 64).is_err());
    }
}
