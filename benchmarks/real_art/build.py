#!/usr/bin/env python3
"""Build the ocpipe PROXY benchmarks from real, third-party character art.

All art comes from Debian packages (Battle for Wesnoth campaigns, Ren'Py demo
games, Ardentryst, Flare).  Nothing is drawn by us and nothing from those
packages is meant to be committed: this script downloads the .deb files with
`apt-get download` (no installation), extracts only the files it needs with
`dpkg-deb --fsys-tarfile | tar -x`, and writes:

  OUT/headshot/{train,heldout}/<Character>/<name>.png   + headshot/manifest.csv
  OUT/eyes/{train,heldout,negatives}/...                 + eyes/manifest.csv
  OUT/negatives/<name>.png                               + negatives/manifest.csv
  OUT/fullbody/<Character>/<name>.png                    + fullbody/manifest.csv
  OUT/multi/<name>.png (1920x1080 composed + real scenes) + multi/manifest.csv
  OUT/sheets/*.png  (contact sheets, for checking by eye)

Requirements: Python 3.8+, Pillow, numpy, and on the machine: apt-get (with
an up-to-date package list, run `apt-get update` once), dpkg-deb and tar.

Usage:
  python3 build.py [--out DIR] [--pkgdir DIR] [--no-download]
                           [--no-sheets] [--apt-update]

Crops are deterministic: painted portraits use hand-checked face boxes listed
below (found with OpenCV's Haar frontal-face detector once, then checked and
corrected by eye; OpenCV is NOT needed to run this script); Ren'Py sprites
are cropped automatically from the top of their alpha box (see vn_geometry).
"""
import argparse
import csv
import glob
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time

import numpy as np
from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))

# --------------------------------------------------------------------------
# Packages (Debian 12 "bookworm").  Versions are the ones the proxies were
# built and checked with; if the archive moved on, the script falls back to
# the current version and warns (source sha256s are in every manifest and in
# source_sha256.json, and are compared when that file is present).
# --------------------------------------------------------------------------
WV = "1:1.16.9-1"
RV = "8.0.3+dfsg-1"
PACKAGES = {
    "wesnoth-1.16-httt": (WV, "GPL-2+ (Battle for Wesnoth art; debian/copyright)"),
    "wesnoth-1.16-dm": (WV, "GPL-2+ (Battle for Wesnoth art; debian/copyright)"),
    "wesnoth-1.16-trow": (WV, "GPL-2+ (Battle for Wesnoth art; debian/copyright)"),
    "wesnoth-1.16-ei": (WV, "GPL-2+ (Battle for Wesnoth art; debian/copyright)"),
    "wesnoth-1.16-did": (WV, "GPL-2+ (Battle for Wesnoth art; debian/copyright)"),
    "wesnoth-1.16-tsg": (WV, "GPL-2+ (Battle for Wesnoth art; debian/copyright)"),
    "wesnoth-1.16-utbs": (WV, "GPL-2+ (Battle for Wesnoth art; debian/copyright)"),
    "wesnoth-1.16-sota": (WV, "GPL-2+ (Battle for Wesnoth art; debian/copyright)"),
    "wesnoth-1.16-sof": (WV, "GPL-2+ (Battle for Wesnoth art; debian/copyright)"),
    "wesnoth-1.16-l": (WV, "GPL-2+ (Battle for Wesnoth art; debian/copyright)"),
    "wesnoth-1.16-nr": (WV, "GPL-2+ (Battle for Wesnoth art; debian/copyright)"),
    "renpy-demo": (RV, "Expat/MIT (Ren'Py; debian/copyright 'Files: *')"),
    "renpy-thequestion": (RV, "Expat/MIT (Ren'Py; debian/copyright 'Files: *')"),
    "renpy": (RV, "Expat/MIT (Ren'Py; debian/copyright 'Files: *')"),
    "ardentryst": ("1.71-9", "CC-BY-SA-3.0 (Data/*, Jordan Trudgett; debian/copyright)"),
    "flare-game": ("1.14-1", "CC-BY-SA-3.0+ (Flare game data; debian/copyright)"),
}

W = "./usr/share/games/wesnoth/1.16/data/campaigns/"
HTTT = W + "Heir_To_The_Throne/images/"
DM = W + "Delfadors_Memoirs/images/"
TROW = W + "The_Rise_Of_Wesnoth/images/"
EI = W + "Eastern_Invasion/images/portraits/"
DID = W + "Descent_Into_Darkness/images/portraits/"
TSG = W + "The_South_Guard/images/"
UTBS = W + "Under_the_Burning_Suns/images/portraits/"
SOTA = W + "Secrets_of_the_Ancients/images/"
SOF = W + "Sceptre_of_Fire/images/portraits/"
LIB = W + "Liberty/images/portraits/"
NR = W + "Northern_Rebirth/images/portraits/"
DEMO = "./usr/share/games/renpy/demo/game/images/"
TQ = "./usr/share/games/renpy/the_question/"
RENPY = "./usr/share/games/renpy/"
ARD = "./usr/share/games/ardentryst/Data/"
FLARE = "./usr/share/games/flare/mods/fantasycore/images/portraits/"

# Ren'Py sprite head model: head height (hair top .. chin) = k * alpha-box
# height; eye line at y0 + e * head height; dx shifts the face centre.
VN = {
    "eileen": dict(k=0.34, e=0.66),
    "sylvie": dict(k=0.236, e=0.60),
    "lucy": dict(k=0.29, e=0.66),
    "placeholder": dict(k=0.16, e=0.55),
}

# --------------------------------------------------------------------------
# Geometry specs.  Each spec resolves to a square head-and-shoulders box and
# a 2:1 eye band (both in source pixels):
#   ("face", [x,y,w,h])  painted portrait, face box as a frontal-face detector
#                        draws it (brow..mouth, cheek..cheek).  eye line at
#                        y+0.42h; square side 2.6w with the eye line at 38.5%
#                        from the top; eye band 1.2w x 0.6w.
#   ("vn", name[, dx])   Ren'Py sprite, automatic from the alpha box (VN[name]).
#                        square side 1.5*head, top 0.05*head above the hair;
#                        eye band 0.72*head x 0.36*head.
#   ("anime", [ex,ey,head,top])  same geometry as "vn" with hand-set values.
#   ("whole", [ex,ey,ew])  the whole image (padded to a square); eye band of
#                        width ew centred on (ex,ey).
#   ("square", [x,y,side], [ex,ey,ew])  explicit square + eye band.
# --------------------------------------------------------------------------

# character, split, package, path, spec, note
HEADSHOT = [
    # --- Konrad (Wesnoth HttT), painted.  train: human outfit, 5 moods;
    #     held back: the elvish (green) outfit.
    ("Konrad", "train", "wesnoth-1.16-httt", HTTT + "portraits/konrad-human.png", ("face", [154, 59, 64, 64]), "neutral"),
    ("Konrad", "train", "wesnoth-1.16-httt", HTTT + "portraits/konrad-human-concerned.png", ("face", [145, 53, 71, 71]), "concerned"),
    ("Konrad", "train", "wesnoth-1.16-httt", HTTT + "portraits/konrad-human-glad.png", ("face", [129, 52, 64, 64]), "glad"),
    ("Konrad", "train", "wesnoth-1.16-httt", HTTT + "portraits/konrad-human-mad.png", ("face", [191, 103, 66, 66]), "mad, other pose, sword"),
    ("Konrad", "train", "wesnoth-1.16-httt", HTTT + "portraits/konrad-human-sceptre.png", ("face", [153, 59, 66, 66]), "holding sceptre"),
    ("Konrad", "heldout", "wesnoth-1.16-httt", HTTT + "portraits/konrad-elvish.png", ("face", [155, 60, 63, 63]), "other outfit (elvish green)"),
    ("Konrad", "heldout", "wesnoth-1.16-httt", HTTT + "portraits/konrad-elvish-mad.png", ("face", [157, 104, 65, 65]), "other outfit + shouting pose"),
    # --- Li'sar (Wesnoth HttT), painted.
    ("Lisar", "train", "wesnoth-1.16-httt", HTTT + "portraits/lisar.png", ("face", [120, 46, 62, 62]), "neutral"),
    ("Lisar", "train", "wesnoth-1.16-httt", HTTT + "portraits/lisar-glad.png", ("face", [118, 50, 60, 60]), "glad"),
    ("Lisar", "train", "wesnoth-1.16-httt", HTTT + "portraits/lisar-mad.png", ("face", [120, 46, 62, 62]), "mad, sword"),
    ("Lisar", "train", "wesnoth-1.16-httt", HTTT + "portraits/lisar-sceptre.png", ("face", [120, 46, 63, 63]), "holding sceptre"),
    ("Lisar", "heldout", "wesnoth-1.16-httt", HTTT + "portraits/lisar-defeat.png", ("face", [200, 55, 44, 44]), "defeated: other pose, head turned"),
    # --- Delfador (Wesnoth HttT/DM), painted.  train: old Delfador, two
    #     outfits; held back: young Delfador (DM, other age) and the HttT
    #     intro painting (other artist, other style).
    ("Delfador", "train", "wesnoth-1.16-httt", HTTT + "portraits/delfador.png", ("face", [114, 138, 52, 52]), "purple robe"),
    ("Delfador", "train", "wesnoth-1.16-httt", HTTT + "portraits/delfador-mentoring.png", ("face", [162, 29, 65, 65]), "purple robe, mentoring"),
    ("Delfador", "train", "wesnoth-1.16-httt", HTTT + "portraits/delfador-mad.png", ("face", [167, 242, 48, 48]), "purple robe, casting (small head)"),
    ("Delfador", "train", "wesnoth-1.16-httt", HTTT + "portraits/delfador-elvish.png", ("face", [111, 136, 56, 56]), "elvish outfit"),
    ("Delfador", "train", "wesnoth-1.16-httt", HTTT + "portraits/delfador-elvish-mentoring.png", ("face", [162, 31, 64, 64]), "elvish outfit, mentoring"),
    ("Delfador", "heldout", "wesnoth-1.16-dm", DM + "portraits/young_delfador.png", ("face", [161, 37, 77, 77]), "young (other age)"),
    ("Delfador", "heldout", "wesnoth-1.16-dm", DM + "portraits/younger_delfador.png", ("face", [236, 71, 74, 74]), "younger, hooded (other age+outfit)"),
    ("Delfador", "heldout", "wesnoth-1.16-httt", HTTT + "story/httt_story4.jpg", ("face", [180, 106, 70, 70]), "intro painting: other artist/style, background"),
    # --- Haldric (Wesnoth TRoW), painted.  held back: story painting by
    #     another artist (scene crop, background).
    ("Haldric", "train", "wesnoth-1.16-trow", TROW + "portraits/haldric.png", ("face", [153, 58, 55, 55]), "neutral"),
    ("Haldric", "train", "wesnoth-1.16-trow", TROW + "portraits/haldric-annoyed.png", ("face", [133, 50, 71, 71]), "annoyed"),
    ("Haldric", "train", "wesnoth-1.16-trow", TROW + "portraits/haldric-mad.png", ("face", [154, 61, 68, 68]), "mad, sword"),
    ("Haldric", "train", "wesnoth-1.16-trow", TROW + "portraits/haldric-surprised.png", ("face", [134, 50, 71, 71]), "surprised"),
    ("Haldric", "heldout", "wesnoth-1.16-trow", TROW + "story/trow_story_01-A_Summer_of_Storms.jpg", ("face", [697, 478, 75, 75]), "story painting: other artist, profile, background"),
    # --- Eileen (Ren'Py demo), anime.  Only 3 sprites exist.
    ("Eileen", "train", "renpy-demo", DEMO + "eileen happy.png", ("vn", "eileen"), "happy"),
    ("Eileen", "train", "renpy-demo", DEMO + "eileen vhappy.png", ("vn", "eileen"), "very happy"),
    ("Eileen", "train", "renpy-demo", DEMO + "eileen concerned.png", ("vn", "eileen"), "concerned"),
    ("Eileen", "heldout", "renpy-demo", DEMO + "concert1.png", ("anime", [1744, 446, 420, 184]), "concert CG: other outfit/pose, guitar, background"),
    ("Eileen", "heldout", "renpy", RENPY + "launcher/game/images/logo.png", ("square", [0, 0, 200], [104, 121, 110]), "chibi (other style) with hat"),
    # --- Sylvie (Ren'Py 'The Question'), anime.
    ("Sylvie", "train", "renpy-thequestion", TQ + "game/images/sylvie blue normal.png", ("vn", "sylvie"), "blue outfit, normal"),
    ("Sylvie", "train", "renpy-thequestion", TQ + "game/images/sylvie blue smile.png", ("vn", "sylvie"), "blue outfit, smile"),
    ("Sylvie", "train", "renpy-thequestion", TQ + "game/images/sylvie blue giggle.png", ("vn", "sylvie"), "blue outfit, giggle (eyes closed)"),
    ("Sylvie", "train", "renpy-thequestion", TQ + "game/images/sylvie blue surprised.png", ("vn", "sylvie"), "blue outfit, surprised"),
    ("Sylvie", "heldout", "renpy-thequestion", TQ + "game/images/sylvie green normal.png", ("vn", "sylvie", -14), "other outfit (green dress), other pose"),
    ("Sylvie", "heldout", "renpy-thequestion", TQ + "game/images/sylvie green surprised.png", ("vn", "sylvie", -14), "other outfit (green dress), surprised"),
    ("Sylvie", "heldout", "renpy-thequestion", TQ + "android-icon_foreground.png", ("anime", [222, 182, 158, 90]), "icon art: other drawing, leaning, open smile"),
    # --- Ardentryst tutorial mentor (unnamed girl), anime face close-ups
    #     (100x100 only).
    ("NyxMentor", "train", "ardentryst", ARD + "NPCs/Faces/Nyx_Mentor.png", ("whole", [57, 46, 96]), "smile"),
    ("NyxMentor", "train", "ardentryst", ARD + "NPCs/Faces/Nyx_Mentor2.png", ("whole", [57, 46, 96]), "open mouth"),
    ("NyxMentor", "train", "ardentryst", ARD + "NPCs/Faces/Nyx_Mentor3.png", ("whole", [57, 46, 96]), "puzzled"),
    ("NyxMentor", "heldout", "ardentryst", ARD + "NPCs/Faces/Nyx_Mentor4.png", ("whole", [57, 46, 96]), "eyes closed, sad (weak held-out: same drawing base)"),
]

# name, kind, package, path, spec, note
NEGATIVES = [
    # painted (Wesnoth) other characters; some deliberately close to the
    # targets (Asheviere = Li'sar's mother, Kalenz = long blond hair, Konrad II
    # and Haldric II share names, Garard = royal red/black).
    ("wes_kalenz", "painted_character", "wesnoth-1.16-httt", HTTT + "portraits/kalenz.png", ("face", [186, 51, 73, 73]), "Kalenz"),
    ("wes_asheviere", "painted_character", "wesnoth-1.16-httt", HTTT + "portraits/asheviere.png", ("face", [139, 79, 54, 54]), "Asheviere"),
    ("wes_moremirmu", "painted_character", "wesnoth-1.16-httt", HTTT + "portraits/moremirmu.png", ("face", [171, 51, 59, 59]), "Moremirmu"),
    ("wes_konrad_ii", "painted_character", "wesnoth-1.16-ei", EI + "konrad_II.png", ("face", [186, 43, 55, 55]), "Konrad II (other person)"),
    ("wes_dacyn", "painted_character", "wesnoth-1.16-ei", EI + "dacyn.png", ("face", [115, 96, 60, 60]), "Dacyn"),
    ("wes_malin_young", "painted_character", "wesnoth-1.16-did", DID + "malin_young.png", ("face", [118, 56, 64, 64]), "Malin Keshar"),
    ("wes_dela", "painted_character", "wesnoth-1.16-did", DID + "dela.png", ("face", [122, 82, 75, 75]), "Dela Keshar"),
    ("wes_darken_volk", "painted_character", "wesnoth-1.16-did", DID + "darken_volk.png", ("face", [157, 61, 65, 65]), "Darken Volk"),
    ("wes_ethiliel", "painted_character", "wesnoth-1.16-tsg", TSG + "portraits/ethiliel.png", ("face", [220, 98, 59, 59]), "Ethiliel"),
    ("wes_hylas", "painted_character", "wesnoth-1.16-tsg", TSG + "portraits/hylas.png", ("face", [179, 41, 57, 57]), "Hylas"),
    ("wes_kaleh", "painted_character", "wesnoth-1.16-utbs", UTBS + "kaleh.png", ("face", [136, 30, 61, 61]), "Kaleh"),
    ("wes_nym", "painted_character", "wesnoth-1.16-utbs", UTBS + "nym.png", ("face", [174, 160, 54, 54]), "Nym"),
    ("wes_zhul", "painted_character", "wesnoth-1.16-utbs", UTBS + "zhul.png", ("face", [159, 140, 70, 70]), "Zhul"),
    ("wes_jessica", "painted_character", "wesnoth-1.16-trow", TROW + "portraits/jessica.png", ("face", [130, 49, 48, 48]), "Jessica"),
    ("wes_ardonna", "painted_character", "wesnoth-1.16-sota", SOTA + "portraits/ardonna.png", ("face", [128, 83, 92, 92]), "Ardonna"),
    ("wes_shynal", "painted_character", "wesnoth-1.16-sota", SOTA + "portraits/shynal-adept.png", ("face", [134, 90, 80, 80]), "Shynal"),
    ("wes_haldric_ii", "painted_character", "wesnoth-1.16-sof", SOF + "haldric-ii.png", ("face", [231, 35, 63, 63]), "Haldric II (other person)"),
    ("wes_relana", "painted_character", "wesnoth-1.16-l", LIB + "relana.png", ("face", [147, 26, 70, 70]), "Relana"),
    ("wes_harper", "painted_character", "wesnoth-1.16-l", LIB + "harper.png", ("face", [196, 82, 81, 81]), "Harper"),
    ("wes_baldras", "painted_character", "wesnoth-1.16-l", LIB + "baldras.png", ("face", [207, 34, 77, 77]), "Baldras"),
    ("wes_tallin", "painted_character", "wesnoth-1.16-nr", NR + "Tallin.png", ("face", [99, 40, 63, 63]), "Tallin"),
    ("wes_eryssa", "painted_character", "wesnoth-1.16-nr", NR + "Eryssa.png", ("face", [108, 54, 53, 53]), "Eryssa"),
    ("wes_garard", "painted_character", "wesnoth-1.16-dm", DM + "portraits/garard.png", ("face", [173, 36, 85, 85]), "Garard II"),
    ("wes_leollyn", "painted_character", "wesnoth-1.16-dm", DM + "portraits/leollyn.png", ("face", [196, 29, 62, 62]), "Leollyn"),
    # painted (Flare) head-and-shoulders portraits, other artist
    ("flare_female01", "painted_character", "flare-game", FLARE + "female01.png", ("square", [0, 0, 320], [185, 144, 148]), "Flare portrait"),
    ("flare_female03", "painted_character", "flare-game", FLARE + "female03.png", ("square", [0, 0, 320], [118, 146, 133]), "Flare portrait"),
    ("flare_female14", "painted_character", "flare-game", FLARE + "female14.png", ("square", [0, 0, 320], [165, 101, 142]), "Flare portrait"),
    ("flare_male02", "painted_character", "flare-game", FLARE + "male02.png", ("square", [0, 0, 320], [163, 147, 175]), "Flare portrait"),
    ("flare_male05", "painted_character", "flare-game", FLARE + "male05.png", ("square", [0, 0, 320], [152, 119, 149]), "Flare portrait"),
    ("flare_male10", "painted_character", "flare-game", FLARE + "male10.png", ("square", [0, 0, 320], [164, 118, 172]), "Flare portrait"),
    ("flare_male16", "painted_character", "flare-game", FLARE + "male16.png", ("square", [0, 0, 320], [107, 126, 154]), "Flare portrait"),
    # anime other characters
    ("vn_lucy_happy", "anime_character", "renpy-demo", DEMO + "lucy happy.png", ("vn", "lucy"), "Lucy (Ren'Py demo)"),
    ("vn_lucy_mad", "anime_character", "renpy-demo", DEMO + "lucy mad.png", ("anime", [232, 247, 215, 100]), "Lucy (Ren'Py demo), leaning: hand-set head"),
    ("vn_concert_lucy", "anime_character", "renpy-demo", DEMO + "concert1.png", ("anime", [411, 556, 245, 402]), "Lucy in concert CG"),
    ("vn_concert_drummer", "anime_character", "renpy-demo", DEMO + "concert1.png", ("anime", [865, 678, 245, 524]), "white-haired drummer in concert CG"),
    ("ard_spiritguardian", "anime_character", "ardentryst", ARD + "NPCs/Faces/spiritguardian.png", ("whole", [110, 125, 184]), "Ardentryst spirit guardian"),
    ("ard_pyralis_mentor", "anime_character", "ardentryst", ARD + "NPCs/Faces/Pyralis_Mentor.png", ("whole", [55, 42, 90]), "Ardentryst Pyralis' mentor"),
    ("ard_pyralis_mentor3", "anime_character", "ardentryst", ARD + "NPCs/Faces/Pyralis_Mentor3.png", ("whole", [55, 42, 90]), "Ardentryst Pyralis' mentor"),
    ("ard_stranger", "anime_character", "ardentryst", ARD + "NPCs/Faces/Stranger.png", ("whole", [60, 48, 80]), "Ardentryst masked stranger"),
    ("ard_nyx_head", "anime_character", "ardentryst", ARD + "Nyx_Head.png", ("whole", [40, 36, 60]), "Ardentryst Nyx (player)"),
    ("ard_pyralis_head", "anime_character", "ardentryst", ARD + "Pyralis_Head.png", ("whole", [40, 36, 60]), "Ardentryst Pyralis (player)"),
    # silhouettes
    ("renpy_placeholder_girl", "silhouette", "renpy", RENPY + "renpy/common/_placeholder/girl.png", ("vn", "placeholder"), "Ren'Py placeholder silhouette"),
    ("renpy_placeholder_boy", "silhouette", "renpy", RENPY + "renpy/common/_placeholder/boy.png", ("vn", "placeholder"), "Ren'Py placeholder silhouette"),
    # not characters
    ("bg_uni", "non_character", "renpy-thequestion", TQ + "game/images/bg uni.jpg", ("square", [280, 0, 720], [640, 300, 400]), "VN background"),
    ("bg_meadow", "non_character", "renpy-thequestion", TQ + "game/images/bg meadow.jpg", ("square", [560, 0, 720], [920, 300, 400]), "VN background"),
    ("bg_club", "non_character", "renpy-thequestion", TQ + "game/images/bg club.jpg", ("square", [0, 0, 720], [360, 300, 400]), "VN background"),
    ("renpy_magic_circle", "non_character", "renpy-demo", DEMO + "magic.png", ("square", [0, 0, 480], [240, 240, 300]), "magic circle effect (RGBA)"),
    ("wes_tsg_summer", "non_character", "wesnoth-1.16-tsg", TSG + "story/summer.jpg", ("square", [320, 0, 385], [512, 190, 300]), "painted landscape"),
    ("wes_sota_elf_road", "non_character", "wesnoth-1.16-sota", SOTA + "story/elf-road.jpg", ("square", [0, 0, 469], [234, 234, 300]), "game map view"),
    ("ard_title", "non_character", "ardentryst", ARD + "World_Map.png", ("square", [0, 0, 480], [240, 240, 300]), "game world map"),
]

# blank / flat canvases: name, kind, mode, colour
SYNTHETIC = [
    ("blank_white", "blank", "RGB", (255, 255, 255)),
    ("blank_black", "blank", "RGB", (0, 0, 0)),
    ("blank_transparent", "blank", "RGBA", (0, 0, 0, 0)),
    ("flat_red", "flat_colour", "RGB", (200, 40, 40)),
    ("flat_grey", "flat_colour", "RGB", (128, 128, 128)),
    ("flat_skin", "flat_colour", "RGB", (240, 200, 170)),
    ("flat_blue", "flat_colour", "RGB", (50, 80, 200)),
]

# FULLBODY: character, kind, package, path
_hp = HTTT + "portraits/"
_hu = HTTT + "units/"
_tu = TROW + "units/"
FULLBODY = (
    [("Konrad", "portrait_3q", "wesnoth-1.16-httt", _hp + f) for f in (
        "konrad-human.png", "konrad-human-concerned.png", "konrad-human-glad.png", "konrad-human-mad.png",
        "konrad-human-sceptre.png", "konrad-elvish.png", "konrad-elvish-concerned.png", "konrad-elvish-glad.png",
        "konrad-elvish-mad.png")]
    + [("Konrad", "unit_sprite_72px", "wesnoth-1.16-httt", _hu + f) for f in (
        "konrad-fighter.png", "konrad-fighter-defend.png", "konrad-commander.png", "konrad-commander-leading.png",
        "konrad-lord.png", "konrad-lord-scepter.png")]
    + [("Lisar", "portrait_3q", "wesnoth-1.16-httt", _hp + f) for f in (
        "lisar.png", "lisar-glad.png", "lisar-mad.png", "lisar-sceptre.png", "lisar-defeat.png")]
    + [("Lisar", "unit_sprite_72px", "wesnoth-1.16-httt", _hu + f) for f in (
        "human-princess.png", "human-princess-attack-2.png", "human-princess-defend-1.png",
        "human-battleprincess.png", "human-battleprincess-leading-1.png", "human-battleprincess-resting.png")]
    + [("Delfador", "portrait_3q", "wesnoth-1.16-httt", _hp + f) for f in (
        "delfador.png", "delfador-mad.png", "delfador-mentoring.png", "delfador-elvish.png",
        "delfador-elvish-mad.png", "delfador-elvish-mentoring.png")]
    + [("Delfador", "portrait_3q", "wesnoth-1.16-dm", DM + "portraits/" + f) for f in (
        "young_delfador.png", "younger_delfador.png")]
    + [("Haldric", "portrait_3q", "wesnoth-1.16-trow", TROW + "portraits/" + f) for f in (
        "haldric.png", "haldric-annoyed.png", "haldric-mad.png", "haldric-surprised.png")]
    + [("Haldric", "unit_sprite_72px", "wesnoth-1.16-trow", _tu + f) for f in (
        "noble-youth.png", "noble-fighter.png", "noble-commander.png", "noble-lord.png")]
    + [("Eileen", "vn_sprite", "renpy-demo", DEMO + f) for f in (
        "eileen happy.png", "eileen vhappy.png", "eileen concerned.png")]
    + [("Sylvie", "vn_sprite", "renpy-thequestion", TQ + "game/images/sylvie " + f + ".png") for f in (
        "blue normal", "blue smile", "blue giggle", "blue surprised",
        "green normal", "green smile", "green giggle", "green surprised")]
    + [("Lucy", "vn_sprite", "renpy-demo", DEMO + f) for f in ("lucy happy.png", "lucy mad.png")]
)

# MULTI composed scenes (1920x1080): name, background (pkg, path),
# [(character, pkg, path, vn-name or None, x-centre fraction, height px)]
_q = TQ + "game/images/"
MULTI_COMPOSED = [
    ("vn_uni_sylvie_eileen", ("renpy-thequestion", _q + "bg uni.jpg"), [
        ("Sylvie", "renpy-thequestion", _q + "sylvie blue normal.png", 0.30, 1050),
        ("Eileen", "renpy-demo", DEMO + "eileen happy.png", 0.72, 1080)]),
    ("vn_club_eileen_lucy_sylvie", ("renpy-thequestion", _q + "bg club.jpg"), [
        ("Eileen", "renpy-demo", DEMO + "eileen vhappy.png", 0.18, 1080),
        ("Lucy", "renpy-demo", DEMO + "lucy happy.png", 0.50, 1080),
        ("Sylvie", "renpy-thequestion", _q + "sylvie green smile.png", 0.82, 1050)]),
    ("vn_meadow_sylvie_lucy", ("renpy-thequestion", _q + "bg meadow.jpg"), [
        ("Sylvie", "renpy-thequestion", _q + "sylvie green giggle.png", 0.28, 1050),
        ("Lucy", "renpy-demo", DEMO + "lucy mad.png", 0.70, 1080)]),
    ("vn_lecturehall_eileen_sylvie", ("renpy-thequestion", _q + "bg lecturehall.jpg"), [
        ("Eileen", "renpy-demo", DEMO + "eileen concerned.png", 0.25, 1080),
        ("Sylvie", "renpy-thequestion", _q + "sylvie blue surprised.png", 0.75, 1050)]),
    ("vn_washington_lucy_eileen", ("renpy-demo", DEMO + "bg washington.jpg"), [
        ("Lucy", "renpy-demo", DEMO + "lucy happy.png", 0.35, 1080),
        ("Eileen", "renpy-demo", DEMO + "eileen happy.png", 0.68, 1080)]),
    ("vn_cave_sylvie_eileen_lucy_small", ("renpy-demo", DEMO + "bg cave.jpg"), [
        ("Sylvie", "renpy-thequestion", _q + "sylvie blue smile.png", 0.20, 760),
        ("Eileen", "renpy-demo", DEMO + "eileen vhappy.png", 0.50, 760),
        ("Lucy", "renpy-demo", DEMO + "lucy mad.png", 0.80, 760)]),
    ("wes_summer_konrad_delfador", ("wesnoth-1.16-tsg", TSG + "story/summer.jpg"), [
        ("Konrad", "wesnoth-1.16-httt", _hp + "konrad-elvish-glad.png", 0.28, 900),
        ("Delfador", "wesnoth-1.16-httt", _hp + "delfador-elvish-mad.png", 0.72, 1000)]),
    ("wes_winter_lisar_haldric_konrad", ("wesnoth-1.16-tsg", TSG + "story/winter.jpg"), [
        ("Lisar", "wesnoth-1.16-httt", _hp + "lisar-glad.png", 0.20, 820),
        ("Haldric", "wesnoth-1.16-trow", TROW + "portraits/haldric-surprised.png", 0.52, 820),
        ("Konrad", "wesnoth-1.16-httt", _hp + "konrad-elvish-concerned.png", 0.82, 820)]),
]
# real multi-character paintings: name, pkg, path, targets present, others,
# head squares [x,y,side] per target where measured
MULTI_REAL = [
    ("real_concert2", "renpy-demo", DEMO + "concert2.png", ["Eileen"], "Lucy; white-haired drummer; small chibi Eileen on the drum",
     {"Eileen": [1429, 163, 630]}),
    ("real_httt_story5", "wesnoth-1.16-httt", HTTT + "story/httt_story5.jpg", ["Delfador"], "Eldred (duelling Delfador); other artist", {}),
    ("real_httt_story8", "wesnoth-1.16-httt", HTTT + "story/httt_story8.jpg", ["Delfador"], "baby Konrad in his arms (tiny); other artist", {}),
    ("real_httt_story1", "wesnoth-1.16-httt", HTTT + "story/httt_story1.jpg", [], "Garard II and Eldred (no target character)", {}),
    ("real_trow_story01", "wesnoth-1.16-trow", TROW + "story/trow_story_01-A_Summer_of_Storms.jpg", ["Haldric"], "King Eldaric (back), guard",
     {"Haldric": [637, 434, 195]}),
]


# --------------------------------------------------------------------------
# package handling
# --------------------------------------------------------------------------
def log(*a):
    print(*a, file=sys.stderr, flush=True)


def find_deb(pkgdir, pkg, version=None):
    cands = sorted(glob.glob(os.path.join(pkgdir, pkg + "_*.deb")))
    if version:
        vq = version.replace(":", "%3a")
        exact = [c for c in cands if os.path.basename(c).startswith(f"{pkg}_{vq}_")]
        if exact:
            return exact[0]
    return cands[-1] if cands else None


def ensure_deb(pkgdir, pkg, version, download):
    deb = find_deb(pkgdir, pkg, version)
    if deb and os.path.basename(deb).startswith(f"{pkg}_{version.replace(':', '%3a')}_"):
        return deb
    if not download:
        if deb:
            log(f"WARNING: {pkg}: using {os.path.basename(deb)} (wanted {version})")
            return deb
        raise SystemExit(f"missing {pkg} .deb in {pkgdir} and --no-download given")
    os.makedirs(pkgdir, exist_ok=True)
    r = subprocess.run(["apt-get", "download", f"{pkg}={version}"], cwd=pkgdir,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        log(f"WARNING: {pkg}={version} not downloadable ({r.stdout.strip().splitlines()[-1:]}); trying current version")
        r = subprocess.run(["apt-get", "download", pkg], cwd=pkgdir,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise SystemExit(f"apt-get download {pkg} failed (run apt-get update?):\n{r.stdout}")
    deb = find_deb(pkgdir, pkg, version)
    if not deb:
        raise SystemExit(f"download of {pkg} produced no .deb")
    return deb


class Sources:
    """Resolves (package, member path) to an extracted file."""

    def __init__(self, pkgdir, download):
        self.pkgdir = pkgdir
        self.download = download
        self.root = os.path.join(pkgdir, "extract")
        self.versions = {}

    def prepare(self, wanted):
        by_pkg = {}
        for pkg, member in wanted:
            by_pkg.setdefault(pkg, set()).add(member)
        for pkg, members in sorted(by_pkg.items()):
            version = PACKAGES[pkg][0]
            deb = ensure_deb(self.pkgdir, pkg, version, self.download)
            self.versions[pkg] = subprocess.run(["dpkg-deb", "-f", deb, "Version"], stdout=subprocess.PIPE,
                                                text=True, check=True).stdout.strip()
            if self.versions[pkg] != version:
                log(f"WARNING: {pkg} is version {self.versions[pkg]}, proxies were checked with {version}")
            dest = os.path.join(self.root, pkg)
            missing = sorted(m for m in members if not os.path.exists(os.path.join(dest, m)))
            if not missing:
                continue
            os.makedirs(dest, exist_ok=True)
            log(f"extracting {len(missing)} files from {os.path.basename(deb)}")
            p1 = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
            p2 = subprocess.run(["tar", "-x", "-C", dest, "-f", "-"] + missing, stdin=p1.stdout)
            p1.stdout.close()
            p1.wait()
            if p2.returncode != 0:
                raise SystemExit(f"tar failed extracting from {deb}")

    def path(self, pkg, member):
        return os.path.join(self.root, pkg, member)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


# --------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------
def load(path):
    im = Image.open(path)
    im.load()
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        return im.convert("RGBA")
    return im.convert("RGB")


def alpha_box(im, thr=128, min_px=3):
    a = np.asarray(im.getchannel("A")) >= thr
    rows = np.nonzero(a.sum(1) >= min_px)[0]
    cols = np.nonzero(a.sum(0) >= 1)[0]
    return a, int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def vn_geometry(im, name, dx=0):
    """Head model for a Ren'Py sprite: y0 = top of the alpha box, head height
    = k * alpha-box height, face centre x = mean x of opaque pixels over the
    head rows (+dx), eye line at y0 + e * head."""
    p = VN[name]
    a, y0, y1, _, _ = alpha_box(im)
    head = p["k"] * (y1 - y0 + 1)
    band = a[y0:int(y0 + head)]
    ys, xs = np.nonzero(band)
    cx = float(xs.mean()) + dx
    ey = y0 + p["e"] * head
    return cx, ey, head, y0


def anime_boxes(cx, ey, head, y0):
    side = 1.5 * head
    sq = (cx - side / 2, y0 - 0.05 * head, side)
    ew = 0.72 * head
    eb = (cx - ew / 2, ey - ew / 4, ew, ew / 2)
    return sq, eb


def resolve(im, spec):
    kind = spec[0]
    if kind == "face":
        x, y, w, h = spec[1]
        cx, ey = x + w / 2, y + 0.42 * h
        side = 2.6 * w
        sq = (cx - side / 2, ey - 0.385 * side, side)
        ew = 1.2 * w
        return sq, (cx - ew / 2, ey - ew / 4, ew, ew / 2)
    if kind == "vn":
        return anime_boxes(*vn_geometry(im, spec[1], spec[2] if len(spec) > 2 else 0))
    if kind == "anime":
        return anime_boxes(*spec[1])
    if kind == "whole":
        side = max(im.size)
        sq = ((im.width - side) / 2, (im.height - side) / 2, side)
        ex, ey, ew = spec[1]
        return sq, (ex - ew / 2, ey - ew / 4, ew, ew / 2)
    if kind == "square":
        x, y, s = spec[1]
        ex, ey, ew = spec[2]
        return (x, y, s), (ex - ew / 2, ey - ew / 4, ew, ew / 2)
    raise ValueError(spec)


def crop(im, x, y, w, h):
    """Crop with rounding. RGBA: out-of-image parts become transparent.
    RGB: the box is shifted (and if needed shrunk, keeping its aspect) to lie
    inside the image."""
    x, y, w, h = (int(round(v)) for v in (x, y, w, h))
    if im.mode == "RGBA":
        out = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        out.paste(im.crop((x, y, x + w, y + h)), (0, 0))
        return out
    s = min(1.0, im.width / w, im.height / h)
    if s < 1.0:
        cx, cy = x + w / 2, y + h / 2
        w, h = int(w * s), int(h * s)
        x, y = int(cx - w / 2), int(cy - h / 2)
    x = min(max(x, 0), im.width - w)
    y = min(max(y, 0), im.height - h)
    return im.crop((x, y, x + w, y + h))


# --------------------------------------------------------------------------
# contact sheets
# --------------------------------------------------------------------------
def checker(w, h, n=8):
    yy, xx = np.mgrid[0:h, 0:w]
    c = (((xx // n) + (yy // n)) % 2).astype(np.uint8)
    arr = np.where(c[..., None] == 1, 205, 245).astype(np.uint8).repeat(3, 2)
    return Image.fromarray(arr, "RGB")


def thumb(path, cell):
    im = load(path)
    im.thumbnail((cell, cell))
    bg = checker(im.width, im.height).convert("RGBA")
    bg.alpha_composite(im.convert("RGBA"))
    return bg.convert("RGB")


def sheet(rows, out, cell=150, label_h=24):
    """rows: list of (row_title, [(path, label), ...])."""
    title_w = 110
    ncol = max(1, max(len(r[1]) for r in rows))
    S = Image.new("RGB", (title_w + ncol * (cell + 4), len(rows) * (cell + label_h + 4)), (70, 70, 70))
    d = ImageDraw.Draw(S)
    for r, (title, items) in enumerate(rows):
        y = r * (cell + label_h + 4)
        d.text((4, y + 4), title, fill=(255, 255, 255))
        for c, (p, lab) in enumerate(items):
            t = thumb(p, cell)
            x = title_w + c * (cell + 4)
            S.paste(t, (x + (cell - t.width) // 2, y + (cell - t.height) // 2))
            d.text((x + 1, y + cell + 1), lab[:24], fill=(255, 255, 120))
            d.text((x + 1, y + cell + 11), lab[24:48], fill=(255, 255, 120))
    S.save(out)


def chunk(items, n):
    return [items[i:i + n] for i in range(0, len(items), n)]


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------
def stem(path):
    s = os.path.splitext(os.path.basename(path))[0]
    return s.replace(" ", "_").replace("+", "_").lower()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=HERE, help="output root (default: this script's folder)")
    ap.add_argument("--pkgdir", default=os.path.join(HERE, "pkgs"), help="where .deb files are kept/extracted")
    ap.add_argument("--no-download", action="store_true", help="use only .deb files already in --pkgdir")
    ap.add_argument("--apt-update", action="store_true", help="run apt-get update first")
    ap.add_argument("--no-sheets", action="store_true", help="skip contact sheets")
    args = ap.parse_args()
    t0 = time.time()
    if args.apt_update:
        subprocess.run(["apt-get", "update"], check=True, stdout=subprocess.DEVNULL)

    wanted = set()
    for it in HEADSHOT + NEGATIVES:
        wanted.add((it[2], it[3]))
    for it in FULLBODY:
        wanted.add((it[2], it[3]))
    for _, bg, chars in MULTI_COMPOSED:
        wanted.add(bg)
        for c in chars:
            wanted.add((c[1], c[2]))
    for it in MULTI_REAL:
        wanted.add((it[1], it[2]))
    src = Sources(args.pkgdir, not args.no_download)
    src.prepare(wanted)
    log(f"packages ready after {time.time() - t0:.1f}s")

    out = args.out
    for d in ("headshot", "eyes", "negatives", "fullbody", "multi", "sheets"):
        shutil.rmtree(os.path.join(out, d), ignore_errors=True)
        os.makedirs(os.path.join(out, d))

    hashes = {}

    def info(pkg, member):
        p = src.path(pkg, member)
        key = f"{pkg}:{member[2:]}"
        if key not in hashes:
            hashes[key] = sha256(p)
        return p, dict(source_package=pkg, source_version=src.versions[pkg], source_path="/" + member[2:],
                       licence=PACKAGES[pkg][1], source_sha256=hashes[key])

    cache = {}

    def get(pkg, member):
        k = (pkg, member)
        if k not in cache:
            cache[k] = load(src.path(pkg, member))
        return cache[k]

    # ---------------- headshot + eyes ----------------
    hs_rows, eye_rows = [], []
    used = {}
    for char, split, pkg, member, spec, note in HEADSHOT:
        _, meta = info(pkg, member)
        im = get(pkg, member)
        sq, eb = resolve(im, spec)
        base = stem(member)
        n = used.get((char, base), 0)
        used[(char, base)] = n + 1
        name = base + (f"_{n}" if n else "") + ".png"
        h = crop(im, sq[0], sq[1], sq[2], sq[2])
        e = crop(im, *eb)
        for root, img, box in (("headshot", h, [sq[0], sq[1], sq[2], sq[2]]), ("eyes", e, list(eb))):
            d = os.path.join(out, root, split, char)
            os.makedirs(d, exist_ok=True)
            img.save(os.path.join(d, name))
            row = dict(character=char, file=f"{split}/{char}/{name}", split=split, width=img.width,
                       height=img.height, mode=img.mode, crop_box_xywh=json.dumps([round(v, 1) for v in box]),
                       note=note, **meta)
            (hs_rows if root == "headshot" else eye_rows).append(row)

    # ---------------- negatives ----------------
    neg_rows = []
    negdir = os.path.join(out, "negatives")
    eyeneg = os.path.join(out, "eyes", "negatives")
    os.makedirs(eyeneg, exist_ok=True)
    for name, kind, pkg, member, spec, note in NEGATIVES:
        _, meta = info(pkg, member)
        im = get(pkg, member)
        sq, eb = resolve(im, spec)
        h = crop(im, sq[0], sq[1], sq[2], sq[2])
        h.save(os.path.join(negdir, name + ".png"))
        neg_rows.append(dict(file=name + ".png", kind=kind, width=h.width, height=h.height, mode=h.mode,
                             crop_box_xywh=json.dumps([round(v, 1) for v in (sq[0], sq[1], sq[2], sq[2])]),
                             note=note, **meta))
        e = crop(im, *eb)
        e.save(os.path.join(eyeneg, name + ".png"))
        eye_rows.append(dict(character="", file=f"negatives/{name}.png", split="negative", width=e.width,
                             height=e.height, mode=e.mode, crop_box_xywh=json.dumps([round(v, 1) for v in eb]),
                             note=f"{kind}: {note}", **meta))
    for name, kind, mode, colour in SYNTHETIC:
        for root, size in ((negdir, (256, 256)), (eyeneg, (256, 128))):
            Image.new(mode, size, colour).save(os.path.join(root, name + ".png"))
        meta = dict(source_package="(synthetic)", source_version="", source_path="", licence="n/a (generated)",
                    source_sha256="")
        neg_rows.append(dict(file=name + ".png", kind=kind, width=256, height=256, mode=mode, crop_box_xywh="",
                             note=f"uniform {colour}", **meta))
        eye_rows.append(dict(character="", file=f"negatives/{name}.png", split="negative", width=256, height=128,
                             mode=mode, crop_box_xywh="", note=f"{kind}: uniform {colour}", **meta))

    # ---------------- fullbody ----------------
    fb_rows = []
    for char, kind, pkg, member in FULLBODY:
        p, meta = info(pkg, member)
        im = get(pkg, member)
        d = os.path.join(out, "fullbody", char)
        os.makedirs(d, exist_ok=True)
        name = stem(member) + ".png"
        im.save(os.path.join(d, name))
        fb_rows.append(dict(character=char, file=f"{char}/{name}", kind=kind, width=im.width, height=im.height,
                            mode=im.mode, **meta))

    # ---------------- multi ----------------
    mu_rows = []
    for name, (bpkg, bmem), chars in MULTI_COMPOSED:
        bg = get(bpkg, bmem).convert("RGB")
        # cover-resize the background to 1920x1080
        s = max(1920 / bg.width, 1080 / bg.height)
        bg = bg.resize((math.ceil(bg.width * s), math.ceil(bg.height * s)), Image.LANCZOS)
        ox, oy = (bg.width - 1920) // 2, (bg.height - 1080) // 2
        scene = bg.crop((ox, oy, ox + 1920, oy + 1080)).convert("RGBA")
        boxes = []
        for char, pkg, mem, xc, hpx in chars:
            orig = get(pkg, mem)
            _, y0, y1, x0, x1 = alpha_box(orig)
            sp = orig.crop((0, y0, orig.width, y1 + 1))  # trim empty rows so the figure stands on the bottom edge
            f = hpx / sp.height
            spr = sp.resize((round(sp.width * f), round(sp.height * f)), Image.LANCZOS)
            px, py = round(xc * 1920 - spr.width / 2), 1080 - spr.height
            scene.alpha_composite(spr, (max(px, 0), py), (max(-px, 0), 0))
            hs, _ = resolve(orig, SPEC_BY_MEMBER[mem])
            hs = (hs[0], hs[1] - y0, hs[2])
            head = [round(px + hs[0] * f), round(py + hs[1] * f), round(hs[2] * f)]
            fig = [max(0, px + round(x0 * f)), py, min(1920, px + round((x1 + 1) * f)), 1080]
            boxes.append(dict(character=char, source=f"{pkg}:/{mem[2:]}", figure_xyxy=fig, head_square_xys=head))
            info(pkg, mem)
        _, bmeta = info(bpkg, bmem)
        scene.convert("RGB").save(os.path.join(out, "multi", name + ".png"))
        mu_rows.append(dict(file=name + ".png", kind="composed", width=1920, height=1080,
                            characters=";".join(b["character"] for b in boxes), others="",
                            boxes_json=json.dumps(boxes), background=f"{bpkg}:/{bmem[2:]}",
                            source_package=";".join(sorted({bpkg} | {c[1] for c in chars})),
                            licence="; ".join(sorted({PACKAGES[bpkg][1]} | {PACKAGES[c[1]][1] for c in chars}))))
    for name, pkg, mem, targets, others, heads in MULTI_REAL:
        p, meta = info(pkg, mem)
        im = get(pkg, mem).convert("RGB")
        im.save(os.path.join(out, "multi", name + ".png"))
        boxes = [dict(character=c, head_square_xys=heads.get(c)) for c in targets]
        mu_rows.append(dict(file=name + ".png", kind="real_painting", width=im.width, height=im.height,
                            characters=";".join(targets), others=others, boxes_json=json.dumps(boxes),
                            background="", source_package=pkg, licence=PACKAGES[pkg][1]))

    # ---------------- manifests ----------------
    def write_csv(path, rows):
        keys = list(rows[0].keys())
        for r in rows:
            for k in r:
                if k not in keys:
                    keys.append(k)
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)

    write_csv(os.path.join(out, "headshot", "manifest.csv"), hs_rows)
    write_csv(os.path.join(out, "eyes", "manifest.csv"), eye_rows)
    write_csv(os.path.join(out, "negatives", "manifest.csv"), neg_rows)
    write_csv(os.path.join(out, "fullbody", "manifest.csv"), fb_rows)
    write_csv(os.path.join(out, "multi", "manifest.csv"), mu_rows)

    # ---------------- source check ----------------
    ref = os.path.join(HERE, "source_sha256.json")
    if os.path.exists(ref):
        expected = json.load(open(ref))
        bad = [k for k, v in hashes.items() if expected.get(k) not in (None, v)]
        if bad:
            log(f"WARNING: {len(bad)} source files differ from source_sha256.json: {bad[:5]}")
        else:
            log("source files match source_sha256.json")
    else:
        json.dump(dict(sorted(hashes.items())), open(ref, "w"), indent=1)
        log(f"wrote {ref}")

    # ---------------- contact sheets ----------------
    if not args.no_sheets:
        sd = os.path.join(out, "sheets")
        for root, rows_, cell in (("headshot", hs_rows, 150), ("eyes", [r for r in eye_rows if r["split"] != "negative"], 150)):
            chars = []
            for r in rows_:
                if r["character"] not in chars:
                    chars.append(r["character"])
            rows = []
            for c in chars:
                items = [(os.path.join(out, root, r["file"]), ("[H] " if r["split"] == "heldout" else "") + os.path.basename(r["file"]))
                         for r in rows_ if r["character"] == c]
                rows.append((c, items))
            sheet(rows, os.path.join(sd, f"{root}.png"), cell=cell)
        negs = [(os.path.join(negdir, r["file"]), r["file"]) for r in neg_rows]
        sheet([(f"neg {i + 1}", c) for i, c in enumerate(chunk(negs, 10))], os.path.join(sd, "negatives.png"), cell=120)
        eneg = [(os.path.join(out, "eyes", r["file"]), os.path.basename(r["file"])) for r in eye_rows if r["split"] == "negative"]
        sheet([(f"eye neg {i + 1}", c) for i, c in enumerate(chunk(eneg, 10))], os.path.join(sd, "eyes_negatives.png"), cell=120)
        fchars = []
        for r in fb_rows:
            if r["character"] not in fchars:
                fchars.append(r["character"])
        rows = []
        for c in fchars:
            items = [(os.path.join(out, "fullbody", r["file"]), os.path.basename(r["file"])) for r in fb_rows if r["character"] == c]
            for i, part in enumerate(chunk(items, 9)):
                rows.append((c if i == 0 else "", part))
        sheet(rows, os.path.join(sd, "fullbody.png"), cell=130)
        # multi: draw the recorded boxes
        tiles = []
        for r in mu_rows:
            im = Image.open(os.path.join(out, "multi", r["file"])).convert("RGB")
            d = ImageDraw.Draw(im)
            for b in json.loads(r["boxes_json"]):
                if b.get("figure_xyxy"):
                    d.rectangle(b["figure_xyxy"], outline=(0, 255, 0), width=4)
                hsq = b.get("head_square_xys")
                if hsq:
                    d.rectangle([hsq[0], hsq[1], hsq[0] + hsq[2], hsq[1] + hsq[2]], outline=(255, 0, 0), width=5)
                    d.text((hsq[0] + 6, hsq[1] + 6), b["character"], fill=(255, 0, 0))
            im.thumbnail((480, 300))
            tiles.append((im, r["file"]))
        cols = 3
        M = Image.new("RGB", (cols * 484, math.ceil(len(tiles) / cols) * 318), (70, 70, 70))
        dm = ImageDraw.Draw(M)
        for i, (t, lab) in enumerate(tiles):
            x, y = (i % cols) * 484, (i // cols) * 318
            M.paste(t, (x, y))
            dm.text((x + 2, y + t.height + 2), lab, fill=(255, 255, 120))
        M.save(os.path.join(sd, "multi.png"))

    counts = {}
    for r in hs_rows:
        counts.setdefault(r["character"], {"train": 0, "heldout": 0})[r["split"]] += 1
    log("headshot counts: " + ", ".join(f"{c} {v['train']}/{v['heldout']}" for c, v in counts.items()))
    log(f"negatives: {len(neg_rows)}, fullbody: {len(fb_rows)}, multi: {len(mu_rows)}")
    log(f"done in {time.time() - t0:.1f}s")


# head specs for sprites/portraits used only in the composed scenes
MULTI_FACES = {
    TQ + "game/images/sylvie green smile.png": ("vn", "sylvie", -14),
    TQ + "game/images/sylvie green giggle.png": ("vn", "sylvie", -14),
    HTTT + "portraits/konrad-elvish-glad.png": ("face", [129, 52, 64, 64]),
    HTTT + "portraits/konrad-elvish-concerned.png": ("face", [145, 53, 71, 71]),
    HTTT + "portraits/delfador-elvish-mad.png": ("face", [167, 242, 48, 48]),
}

SPEC_BY_MEMBER = dict(MULTI_FACES)
SPEC_BY_MEMBER.update({it[3]: it[4] for it in NEGATIVES if it[3] != DEMO + "concert1.png"})
SPEC_BY_MEMBER.update({it[3]: it[4] for it in HEADSHOT if it[3] != DEMO + "concert1.png"})

if __name__ == "__main__":
    main()
