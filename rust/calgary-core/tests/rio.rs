//! §2: the Rio Grande table, builder and Linux-style parser.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use calgary_core::rio::{self, RioChip, RioError};
use calgary_core::Variant;
use proptest::prelude::*;

const SEG: u16 = 0x9FC0; // SeaBIOS EBDA at 0x9fc00

fn chip(bbar: u32, node: u8) -> RioChip {
    RioChip {
        bbar,
        variant: Variant::Calgary,
        chassis: 1,
        node,
    }
}

#[test]
fn s2_build_exact_bytes_for_one_chip() {
    let t = rio::build(&[chip(0xfef0_0000, 0)]).unwrap();
    #[rustfmt::skip]
    let want: Vec<u8> = vec![
        0x00, 0x00, 0x52, 0x47,             // next_offset 0, id 0x4752
        3, 1, 1,                            // version 3, 1 scal, 1 rio
        0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, // scalability entry
        0, 0x00, 0x00, 0xF0, 0xFE, 4, 0, 0xFF, 0xFF, 0xFF, 0xFF, 1, 0, 0, 1, // RIO entry
    ];
    assert_eq!(t, want);
    assert_eq!(t.len(), 4 + 3 + 12 + 15);
}

#[test]
fn s2_build_four_chips_entry_per_chip() {
    let chips: Vec<RioChip> = (0..4u32)
        .map(|i| RioChip {
            bbar: 0xfe00_0000 + (i << 20),
            variant: Variant::CalIoc2,
            chassis: 2,
            node: i as u8,
        })
        .collect();
    let t = rio::build(&chips).unwrap();
    assert_eq!(t[6], 4);
    assert_eq!(t.len(), 4 + 3 + 12 + 4 * 15);
    for i in 0..4 {
        let e = &t[19 + 15 * i..19 + 15 * (i + 1)];
        assert_eq!(e[0], i as u8);
        assert_eq!(
            u32::from_le_bytes(e[1..5].try_into().unwrap()),
            0xfe00_0000 + ((i as u32) << 20)
        );
        assert_eq!(e[5], rio::COMPAT_CALGARY);
        assert_eq!(&e[7..11], &[0xFF; 4]);
        assert_eq!((e[13], e[14]), (i as u8, 2));
    }
}

#[test]
fn s2_build_rejects_bad_chip_lists() {
    assert_eq!(rio::build(&[]), Err(RioError::NoChips));
    let five: Vec<RioChip> = (0..5u32)
        .map(|i| chip(0xfe00_0000 + (i << 20), 0))
        .collect();
    assert_eq!(rio::build(&five), Err(RioError::TooManyChips(5)));
    assert_eq!(
        rio::build(&[chip(0xfef0_0000, 0), chip(0xfef0_0000, 1)]),
        Err(RioError::DuplicateBbar(0xfef0_0000))
    );
}

#[test]
fn s2_parse_finds_table_at_ebda_0x180() {
    let mut mem = vec![0u8; 1 << 20];
    rio::place(&mut mem, SEG, &rio::build(&[chip(0xfef0_0000, 0)]).unwrap()).unwrap();
    assert_eq!(&mem[0x40E..0x410], &SEG.to_le_bytes());
    let p = rio::parse(&mem).unwrap();
    assert_eq!((p.ebda, p.block_offset, p.version), (0x9_FC00, 0x180, 3));
    assert_eq!(p.calgary_bbars(), vec![0xfef0_0000]);
    assert_eq!(p.scal.len(), 1);
    assert!(p.linux_accepts(1));
}

#[test]
fn s2_parse_walks_the_block_chain() {
    let mut mem = vec![0u8; 1 << 20];
    let ebda = 0x9_FC00usize;
    mem[0x40E..0x410].copy_from_slice(&SEG.to_le_bytes());
    // Block at 0x180 with another id pointing to 0x200.
    mem[ebda + 0x180..ebda + 0x182].copy_from_slice(&0x200u16.to_le_bytes());
    mem[ebda + 0x182..ebda + 0x184].copy_from_slice(&0x1234u16.to_le_bytes());
    let t = rio::build(&[chip(0xfee0_0000, 0)]).unwrap();
    mem[ebda + 0x200..ebda + 0x200 + t.len()].copy_from_slice(&t);
    let p = rio::parse(&mem).unwrap();
    assert_eq!(p.block_offset, 0x200);
    assert_eq!(p.calgary_bbars(), vec![0xfee0_0000]);
}

#[test]
fn s2_parse_chain_that_goes_backwards_ends_not_found() {
    let mut mem = vec![0u8; 1 << 20];
    let ebda = 0x9_FC00usize;
    mem[0x40E..0x410].copy_from_slice(&SEG.to_le_bytes());
    mem[ebda + 0x180..ebda + 0x182].copy_from_slice(&0x100u16.to_le_bytes());
    assert_eq!(rio::parse(&mem), Err(RioError::NotFound));
    mem[ebda + 0x180..ebda + 0x182].copy_from_slice(&0x180u16.to_le_bytes()); // self loop
    assert_eq!(rio::parse(&mem), Err(RioError::NotFound));
    mem[ebda + 0x180..ebda + 0x182].copy_from_slice(&0u16.to_le_bytes());
    assert_eq!(rio::parse(&mem), Err(RioError::NotFound));
}

#[test]
fn s2_parse_version_2_layout() {
    let mut mem = vec![0u8; 1 << 20];
    let ebda = 0x9_FC00usize;
    mem[0x40E..0x410].copy_from_slice(&SEG.to_le_bytes());
    let mut t = vec![0, 0, 0x52, 0x47, 2, 1, 2];
    t.extend_from_slice(&[7, 1, 2, 3, 4, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]); // 11 bytes
    t.extend_from_slice(&[0, 0, 0, 0xF0, 0xFE, 2, 0, 0xFF, 0xFF, 0xFF, 0xFF, 1, 0]); // Hurricane RIO-IB
    t.extend_from_slice(&[1, 0, 0, 0xE0, 0xFE, 5, 0, 0xFF, 0xFF, 0xFF, 0xFF, 5, 0]); // ALT_CALGARY
    mem[ebda + 0x180..ebda + 0x180 + t.len()].copy_from_slice(&t);
    let p = rio::parse(&mem).unwrap();
    assert_eq!(p.version, 2);
    assert_eq!(p.scal[0].cbar, 0x0403_0201);
    assert_eq!(p.scal[0].chassis_num, None);
    assert_eq!(p.rio.len(), 2);
    assert_eq!(p.rio[1].wp_index, None);
    assert_eq!(
        p.calgary_bbars(),
        vec![0xfee0_0000],
        "type 2 skipped, type 5 kept"
    );
}

#[test]
fn s2_parse_rejects_bad_version_and_truncation() {
    let mut mem = vec![0u8; 1 << 20];
    let t = rio::build(&[chip(0xfef0_0000, 0)]).unwrap();
    rio::place(&mut mem, SEG, &t).unwrap();
    mem[0x9_FC00 + 0x184] = 4;
    assert_eq!(rio::parse(&mem), Err(RioError::BadVersion(4)));
    mem[0x9_FC00 + 0x184] = 3;
    let end = 0x9_FC00 + 0x180 + t.len();
    assert_eq!(rio::parse(&mem[..end - 1]), Err(RioError::Truncated));
    assert!(rio::parse(&mem[..end]).is_ok());
    assert_eq!(rio::parse(&[0u8; 4]), Err(RioError::Truncated));
}

#[test]
fn s2_place_checks_room() {
    let mut small = vec![0u8; 0x9_FC00 + 0x180 + 10];
    let t = rio::build(&[chip(0xfef0_0000, 0)]).unwrap();
    assert_eq!(rio::place(&mut small, SEG, &t), Err(RioError::NoRoom));
}

proptest! {
    #[test]
    fn rio_build_parse_round_trip(
        n in 1usize..=4,
        seed in any::<u32>(),
        chassis in any::<[u8; 4]>(),
        nodes in any::<[u8; 4]>(),
        seg in 0x8000u16..0x9FC0,
    ) {
        let chips: Vec<RioChip> = (0..n)
            .map(|i| RioChip {
                bbar: (seed & 0xFFF0_0000).wrapping_add((i as u32) << 20),
                variant: if i % 2 == 0 { Variant::Calgary } else { Variant::CalIoc2 },
                chassis: chassis[i],
                node: nodes[i],
            })
            .collect();
        let t = rio::build(&chips).unwrap();
        let mut mem = vec![0u8; 1 << 20];
        rio::place(&mut mem, seg, &t).unwrap();
        let p = rio::parse(&mem).unwrap();
        prop_assert_eq!(p.version, 3);
        prop_assert_eq!(p.scal.len(), 1);
        prop_assert_eq!(p.rio.len(), n);
        for (c, r) in chips.iter().zip(p.rio.iter()) {
            prop_assert_eq!(r.bbar, c.bbar);
            prop_assert_eq!(r.node_id, c.node);
            prop_assert_eq!(r.chassis_num, Some(c.chassis));
            prop_assert!(r.is_calgary());
            prop_assert_eq!((r.port0node, r.port0port, r.port1node, r.port1port), (0xFF, 0xFF, 0xFF, 0xFF));
        }
        prop_assert_eq!(p.calgary_bbars(), chips.iter().map(|c| c.bbar).collect::<Vec<_>>());
    }

    #[test]
    fn rio_parse_never_panics(mem in proptest::collection::vec(any::<u8>(), 0..4096), seg in any::<u16>()) {
        let mut m = mem;
        if m.len() >= 0x410 {
            m[0x40E..0x410].copy_from_slice(&seg.to_le_bytes());
        }
        let _ = rio::parse(&m);
    }
}
