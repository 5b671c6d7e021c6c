"""Layout cases of Table 1's datasets 1-19 (Rain12 ... RainDirection)."""
from __future__ import annotations

from tests.sources.cases import LIST, M2O, UNP, Case, pair, sbs


def _rain12() -> Case:
    a, b = "Rain12/li_cvpr16_rain", "Rain12/datasets/test/test12"
    return Case(
        "Rain12",
        files=[f"{a}/001_in.png", f"{a}/001_GT.png", f"{a}/002_in.png", f"{a}/002_GT.png", f"{a}/003_IN.PNG",
               f"{a}/003_gt.png", f"{b}/rainy/1.png", f"{b}/groundtruth/1.png", f"{b}/rainy/12.png",
               f"{b}/groundtruth/12.png"],
        traps=[f"{a}/readme.txt", f"{a}/Thumbs.db"],
        expected={pair(f"{a}/001_in.png", f"{a}/001_GT.png", "test"),
                  pair(f"{a}/002_in.png", f"{a}/002_GT.png", "test"),
                  pair(f"{a}/003_IN.PNG", f"{a}/003_gt.png", "test"),
                  pair(f"{b}/rainy/1.png", f"{b}/groundtruth/1.png", "test"),
                  pair(f"{b}/rainy/12.png", f"{b}/groundtruth/12.png", "test")},
        labels={f"{a}/001_in.png": ("day", "streak", False)},
    )


def _rain100(name: str, train: str, root: str) -> Case:
    t, v = f"{root}/{train}", f"{root}/datasets/test/{name}"
    return Case(
        name,
        files=[f"{t}/rain-1.png", f"{t}/norain-1.png", f"{t}/rain-12.png", f"{t}/norain-12.png",
               f"{v}/norain-001.png", f"{v}/rainy/rain-001.png", f"{v}/norain-002.png", f"{v}/rainy/Rain-002.PNG"],
        traps=[f"{t}/rainregion-1.png", f"{t}/rainstreak-1.png", f"{t}/rainregion-12.png", f"{t}/rainstreak-12.png"],
        expected={pair(f"{t}/rain-1.png", f"{t}/norain-1.png", "train"),
                  pair(f"{t}/rain-12.png", f"{t}/norain-12.png", "train"),
                  pair(f"{v}/rainy/rain-001.png", f"{v}/norain-001.png", "test"),
                  pair(f"{v}/rainy/Rain-002.PNG", f"{v}/norain-002.png", "test")},
    )


def _rain200l() -> Case:
    tr, te, cp = "Rain200L/rain_data_train_Light", "Rain200L/rain_data_test_Light", "Rain200L/copy/rain_data_train_Light"
    return Case(
        "Rain200L",
        files=[f"{tr}/rain/X2/norain-1x2.png", f"{tr}/norain/norain-1.png", f"{tr}/rain/X2/norain-2x2.png",
               f"{tr}/norain/norain-2.png", f"{te}/rain/X2/norain-1x2.png", f"{te}/norain/norain-1.png",
               f"{cp}/rain/norain-5x2.png", f"{cp}/norain/norain-5.png"],
        traps=[f"{tr}/rain/X2/readme.txt"],
        expected={pair(f"{tr}/rain/X2/norain-1x2.png", f"{tr}/norain/norain-1.png", "train"),
                  pair(f"{tr}/rain/X2/norain-2x2.png", f"{tr}/norain/norain-2.png", "train"),
                  pair(f"{te}/rain/X2/norain-1x2.png", f"{te}/norain/norain-1.png", "test"),
                  pair(f"{cp}/rain/norain-5x2.png", f"{cp}/norain/norain-5.png", "train")},
    )


def _rain200h() -> Case:
    te, tr, fl = "Rain200H/Rain200H/test", "Rain200H/rain_data_train_Heavy", "Rain200H/flat"
    return Case(
        "Rain200H",
        files=[f"{te}/rain/X2/norain-1x2.png", f"{te}/norain/norain-1.png", f"{tr}/rain/x2/norain-3x2.png",
               f"{tr}/norain/norain-3.png", f"{fl}/rain/X2/norain-4x2.png", f"{fl}/norain/norain-4.png"],
        expected={pair(f"{te}/rain/X2/norain-1x2.png", f"{te}/norain/norain-1.png", "test"),
                  pair(f"{tr}/rain/x2/norain-3x2.png", f"{tr}/norain/norain-3.png", "train"),
                  pair(f"{fl}/rain/X2/norain-4x2.png", f"{fl}/norain/norain-4.png", "train")},
    )


def _ddn() -> Case:
    return Case(
        "DDN-Data",
        files=["Rain12600/rainy_image/1_1.jpg", "Rain12600/rainy_image/1_14.jpg", "Rain12600/ground_truth/1.jpg",
               "Rain1400/rainy_image/901_1.jpg", "Rain1400/rainy_image/901_7.jpg", "Rain1400/ground_truth/901.jpg"],
        traps=["Rain1400/readme.txt"],
        expected={pair("Rain12600/rainy_image/1_1.jpg", "Rain12600/ground_truth/1.jpg", "train", M2O),
                  pair("Rain12600/rainy_image/1_14.jpg", "Rain12600/ground_truth/1.jpg", "train", M2O),
                  pair("Rain1400/rainy_image/901_1.jpg", "Rain1400/ground_truth/901.jpg", "test", M2O),
                  pair("Rain1400/rainy_image/901_7.jpg", "Rain1400/ground_truth/901.jpg", "test", M2O)},
    )


def _did() -> Case:
    d = "DID-MDN-datasets"
    wide = [f"{d}/DID-MDN-training/Rain_Heavy/train2018new/0.jpg", f"{d}/DID-MDN-training/Rain_Light/train2018new/1.jpg",
            f"{d}/DID-MDN-test/0.jpg"]
    return Case(
        "DID-Data",
        files=[*wide, f"{d}/test_nature/real1.jpg"],
        wide=wide,
        traps=[f"{d}/DID-MDN-training/readme.txt"],
        expected={sbs(wide[0], "train"), sbs(wide[1], "train"), sbs(wide[2], "test"),
                  pair(f"{d}/test_nature/real1.jpg", None, "test", UNP)},
        sides={w: "left_rainy" for w in wide},
        labels={f"{d}/test_nature/real1.jpg": ("day", "streak", True), wide[0]: ("day", "streak", False)},
    )


def _raindrop() -> Case:
    r = "RainDrop"
    return Case(
        "RainDrop",
        files=[f"{r}/train/data/0_rain.png", f"{r}/train/gt/0_clean.png", f"{r}/test_a/data/1_rain.png",
               f"{r}/test_a/gt/1_clean.png", f"{r}/raindrop_test_b/data/2_rain.jpg", f"{r}/raindrop_test_b/gt/2_clean.JPG"],
        traps=[f"{r}/train/data/desktop.ini"],
        expected={pair(f"{r}/train/data/0_rain.png", f"{r}/train/gt/0_clean.png", "train"),
                  pair(f"{r}/test_a/data/1_rain.png", f"{r}/test_a/gt/1_clean.png", "test"),
                  pair(f"{r}/raindrop_test_b/data/2_rain.jpg", f"{r}/raindrop_test_b/gt/2_clean.JPG", "test")},
        labels={f"{r}/train/data/0_rain.png": ("day", "drop", False)},
    )


def _rain800() -> Case:
    r = "Rain800"
    wide = [f"{r}/training/1.jpg", f"{r}/training/2.jpg", f"{r}/test_syn/3.jpg"]
    return Case(
        "Rain800",
        files=[*wide, f"{r}/test_nature/4.jpg", f"{r}/Rain800/test/rain/rain-001.png",
               f"{r}/Rain800/test/norain/norain-001.png"],
        wide=wide,
        expected={sbs(wide[0], "train"), sbs(wide[1], "train"), sbs(wide[2], "test"),
                  pair(f"{r}/test_nature/4.jpg", None, "test", UNP),
                  pair(f"{r}/Rain800/test/rain/rain-001.png", f"{r}/Rain800/test/norain/norain-001.png", "test")},
        sides={w: "left_clean" for w in wide},
    )


def _spa() -> Case:
    s = "SPA-Data"
    lines = ("/real_world/001/001-1/001-1_1_1.png /real_world_gt/001/001_1_1.png\n"
             "/real_world/001/001-2/001-2_1_1.png /real_world_gt/001/001_1_1.png\n")
    return Case(
        "SPA-Data",
        files=[f"{s}/Training/real_world/001/001-1/001-1_1_1.png", f"{s}/Training/real_world/001/001-2/001-2_1_1.png",
               f"{s}/Training/real_world_gt/001/001_1_1.png",
               f"{s}/Testing/real_test_1000/rain/000.png", f"{s}/Testing/real_test_1000/gt/000gt.png",
               f"{s}/Testing/copy_jpg/rain_jpg/001.jpg", f"{s}/Testing/copy_jpg/gt_jpg/001gt.jpg",
               f"{s}/Testing/copy_same/rainy/002.png", f"{s}/Testing/copy_same/gt/002.png",
               f"{s}/Testing/Real_Internet/img_01.jpg"],
        texts={f"{s}/Training/real_world.txt": lines,
               f"{s}/Testing/real_test_1000.txt": "rain/000.png gt/000gt.png\n",
               f"{s}/Testing/Real_Internet.txt": "img_01.jpg\n"},
        traps=[f"{s}/Training/real_world.txt", f"{s}/Testing/real_test_1000.txt", f"{s}/Testing/Real_Internet.txt"],
        expected={
            pair(f"{s}/Training/real_world/001/001-1/001-1_1_1.png", f"{s}/Training/real_world_gt/001/001_1_1.png",
                 "train", LIST),
            pair(f"{s}/Training/real_world/001/001-2/001-2_1_1.png", f"{s}/Training/real_world_gt/001/001_1_1.png",
                 "train", LIST),
            pair(f"{s}/Testing/real_test_1000/rain/000.png", f"{s}/Testing/real_test_1000/gt/000gt.png", "test"),
            pair(f"{s}/Testing/copy_jpg/rain_jpg/001.jpg", f"{s}/Testing/copy_jpg/gt_jpg/001gt.jpg", "test"),
            pair(f"{s}/Testing/copy_same/rainy/002.png", f"{s}/Testing/copy_same/gt/002.png", "test"),
            pair(f"{s}/Testing/Real_Internet/img_01.jpg", None, "test", UNP)},
        labels={f"{s}/Testing/Real_Internet/img_01.jpg": ("day", "streak", True)},
    )


def _mpid() -> Case:
    m = "MPID"
    return Case(
        "MPID",
        files=[f"{m}/rain_streak/train/rainy/1.png", f"{m}/rain_streak/train/gt/1.png",
               f"{m}/Rain_Drop/test/input/2.png", f"{m}/Rain_Drop/test/target/2.png",
               f"{m}/rain_mist/train/rain/3.jpg", f"{m}/rain_mist/train/clean/3.jpg",
               f"{m}/rain_streak/real/4.png", f"{m}/RID/images/5.jpg"],
        traps=[f"{m}/RID/annotations/5.xml"],
        expected={pair(f"{m}/rain_streak/train/rainy/1.png", f"{m}/rain_streak/train/gt/1.png", "train"),
                  pair(f"{m}/Rain_Drop/test/input/2.png", f"{m}/Rain_Drop/test/target/2.png", "test"),
                  pair(f"{m}/rain_mist/train/rain/3.jpg", f"{m}/rain_mist/train/clean/3.jpg", "train"),
                  pair(f"{m}/rain_streak/real/4.png", None, "train", UNP),
                  pair(f"{m}/RID/images/5.jpg", None, "train", UNP)},
        labels={f"{m}/rain_streak/train/rainy/1.png": ("day", "streak", False),
                f"{m}/Rain_Drop/test/input/2.png": ("day", "drop", False),
                f"{m}/rain_mist/train/rain/3.jpg": ("day", None, False),
                f"{m}/rain_streak/real/4.png": ("day", None, True)},
    )


def _raincityscapes() -> Case:
    c, d = "RainCityscapes", "CityscapesRain"
    rain = f"{c}/leftImg8bit_trainval_rain/leftImg8bit_rain"
    clean = f"{c}/leftImg8bit_trainvaltest/leftImg8bit"
    r1 = f"{rain}/train/aachen/aachen_000004_000019_leftImg8bit_rain_alpha_0.01_beta_0.005_dropsize_0.01_pattern_1.png"
    r2 = f"{rain}/train/aachen/aachen_000004_000019_leftImg8bit_rain_alpha_0.02_beta_0.01_dropsize_0.005_pattern_12.png"
    c1 = f"{clean}/train/aachen/aachen_000004_000019_leftImg8bit.png"
    r3 = f"{rain}/val/frankfurt/frankfurt_000000_000294_leftImg8bit_rain_alpha_0.03_beta_0.015_dropsize_0.002_pattern_3.png"
    c3 = f"{clean}/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png"
    r4 = f"{d}/leftImg8bit_rain/train/bochum/bochum_000000_000313_leftImg8bit_rain_alpha_0.01_beta_0.005_dropsize_0.01_pattern_1.png"
    c4 = f"{d}/leftImg8bit/train/bochum/bochum_000000_000313_leftImg8bit.png"
    return Case(
        "RainCityscapes",
        files=[r1, r2, c1, r3, c3, r4, c4],
        traps=[f"{rain}/train/aachen/aachen_000004_000019_depth_rain.png",
               f"{clean}/test/berlin/berlin_000000_000019_leftImg8bit.png", f"{c}/leftImg8bit_trainval_rain/README"],
        expected={pair(r1, c1, "train", M2O), pair(r2, c1, "train", M2O), pair(r3, c3, "test", M2O),
                  pair(r4, c4, "train", M2O)},
    )


def _outdoor() -> Case:
    h, r = "Outdoor-Rain/Heavy_rain_image_cvpr2019", "Outdoor-Rain/repack"
    return Case(
        "Outdoor-Rain",
        files=[f"{h}/train/in/im_0001_s80_a04.png", f"{h}/train/in/im_0001_s95_a06.png", f"{h}/train/gt/im_0001.png",
               f"{h}/test_with_train_param_v5/in/im_0601_s80_a04.png", f"{h}/test_with_train_param_v5/gt/im_0601.png",
               f"{r}/input/im_0602_s90_a05.png", f"{r}/gt/im_0602.png",
               f"{r}/data/im_0002_s100_a04.png", f"{r}/gt/im_0002.png"],
        traps=[f"{h}/train/streak/im_0001_s80_a04.png", f"{h}/train/atm/im_0001.png"],
        expected={pair(f"{h}/train/in/im_0001_s80_a04.png", f"{h}/train/gt/im_0001.png", "train", M2O),
                  pair(f"{h}/train/in/im_0001_s95_a06.png", f"{h}/train/gt/im_0001.png", "train", M2O),
                  pair(f"{h}/test_with_train_param_v5/in/im_0601_s80_a04.png",
                       f"{h}/test_with_train_param_v5/gt/im_0601.png", "test", M2O),
                  pair(f"{r}/input/im_0602_s90_a05.png", f"{r}/gt/im_0602.png", "test", M2O),
                  pair(f"{r}/data/im_0002_s100_a04.png", f"{r}/gt/im_0002.png", "train", M2O)},
    )


def _rain13k() -> Case:
    k = "Rain13K"
    return Case(
        "Rain13K",
        files=[f"{k}/train/Rain13K/input/1.jpg", f"{k}/train/Rain13K/target/1.jpg", f"{k}/train/Rain13K/input/2.jpg",
               f"{k}/train/Rain13K/target/2.jpg", f"{k}/test/Test100/input/1.png", f"{k}/test/Test100/target/1.png",
               f"{k}/test/Test2800/input/901_1.jpg", f"{k}/test/Test2800/target/901_1.jpg",
               f"{k}/Rain100H/Input/3.png", f"{k}/Rain100H/target/3.png"],
        traps=[f"{k}/train/Rain13K/input/Thumbs.db", f"{k}/train/Rain13K/README.md"],
        expected={pair(f"{k}/train/Rain13K/input/1.jpg", f"{k}/train/Rain13K/target/1.jpg", "train"),
                  pair(f"{k}/train/Rain13K/input/2.jpg", f"{k}/train/Rain13K/target/2.jpg", "train"),
                  pair(f"{k}/test/Test100/input/1.png", f"{k}/test/Test100/target/1.png", "test"),
                  pair(f"{k}/test/Test2800/input/901_1.jpg", f"{k}/test/Test2800/target/901_1.jpg", "test"),
                  pair(f"{k}/Rain100H/Input/3.png", f"{k}/Rain100H/target/3.png", "test")},
    )


def _kitti2012() -> Case:
    k = "RainKITTI2012"
    return Case(
        "RainKITTI2012",
        files=[f"{k}/training/image_2_3_rain50/000000_10_rain_2_50.jpg", f"{k}/training/image_2_3_rain50/000000_10_rain_3_50.jpg",
               f"{k}/training/image_2/000000_10_norain_2.png", f"{k}/training/image_3/000000_10_norain_3.png",
               f"{k}/testing/image_2_3_rain50/000001_05_rain_2_50.jpg", f"{k}/testing/image_2/000001_05_norain_2.png"],
        traps=[f"{k}/training/depth_2/000000_10.png", f"{k}/training/image_2_3_rain50/readme.txt"],
        expected={pair(f"{k}/training/image_2_3_rain50/000000_10_rain_2_50.jpg",
                       f"{k}/training/image_2/000000_10_norain_2.png", "train"),
                  pair(f"{k}/training/image_2_3_rain50/000000_10_rain_3_50.jpg",
                       f"{k}/training/image_3/000000_10_norain_3.png", "train"),
                  pair(f"{k}/testing/image_2_3_rain50/000001_05_rain_2_50.jpg",
                       f"{k}/testing/image_2/000001_05_norain_2.png", "test")},
    )


def _kitti2015() -> Case:
    k = "K15"
    return Case(
        "RainKITTI2015",
        files=[f"{k}/test/image_2_3_rain50/0001.png", f"{k}/test/image_2_3_norain/0001.png",
               f"{k}/test/image_3_2_rain50/0001.png", f"{k}/test/image_3_2_norain/0001.png",
               f"{k}/Train/Image_2_3_Rain50/0002.png", f"{k}/Train/image_2_3_norain/0002.png"],
        traps=[f"{k}/test/depth_2/0001.png"],
        expected={pair(f"{k}/test/image_2_3_rain50/0001.png", f"{k}/test/image_2_3_norain/0001.png", "test"),
                  pair(f"{k}/test/image_3_2_rain50/0001.png", f"{k}/test/image_3_2_norain/0001.png", "test"),
                  pair(f"{k}/Train/Image_2_3_Rain50/0002.png", f"{k}/Train/image_2_3_norain/0002.png", "train")},
    )


def _ivipc() -> Case:
    i = "IVIPC_DQA/Data"
    return Case(
        "IVIPC-DQA",
        files=[f"{i}/rain/1.png", f"{i}/rain/2.png"],
        traps=[f"{i}/realigned_mos.mat", f"{i}/realigned_std.mat", f"{i}/DDN/1_DDN.png", f"{i}/JORDER/1.png",
               f"{i}/DSC/2.png"],
        expected={pair(f"{i}/rain/1.png", None, "train", UNP), pair(f"{i}/rain/2.png", None, "train", UNP)},
        labels={f"{i}/rain/1.png": ("day", "streak", True)},
    )


def _rainds() -> Case:
    s, r = "RainDS/RainDS_syn", "RainDS/RainDS_real"
    return Case(
        "RainDS",
        files=[f"{s}/train/rainstreak/rain-3.png", f"{s}/train/rainstreak/pie-rain-3.png", f"{s}/train/raindrop/rd-3.png",
               f"{s}/train/rainstreak_raindrop/rd-rain-3.png", f"{s}/train/gt/norain-3.png", f"{s}/train/gt/pie-norain-3.png",
               f"{s}/test/raindrop/pie-rd-7.png", f"{s}/test/gt/pie-norain-7.png",
               f"{r}/train_set/rainstreak/2.png", f"{r}/train_set/raindrop/2.png",
               f"{r}/train_set/rainstreak_raindrop/2.png", f"{r}/train_set/gt/2.png",
               f"{r}/test_set/raindrop/5.png", f"{r}/test_set/gt/5.png"],
        traps=[f"{s}/train/rainstreak/Thumbs.db"],
        expected={pair(f"{s}/train/rainstreak/rain-3.png", f"{s}/train/gt/norain-3.png", "train", M2O),
                  pair(f"{s}/train/rainstreak/pie-rain-3.png", f"{s}/train/gt/pie-norain-3.png", "train", M2O),
                  pair(f"{s}/train/raindrop/rd-3.png", f"{s}/train/gt/norain-3.png", "train", M2O),
                  pair(f"{s}/train/rainstreak_raindrop/rd-rain-3.png", f"{s}/train/gt/norain-3.png", "train", M2O),
                  pair(f"{s}/test/raindrop/pie-rd-7.png", f"{s}/test/gt/pie-norain-7.png", "test", M2O),
                  pair(f"{r}/train_set/rainstreak/2.png", f"{r}/train_set/gt/2.png", "train", M2O),
                  pair(f"{r}/train_set/raindrop/2.png", f"{r}/train_set/gt/2.png", "train", M2O),
                  pair(f"{r}/train_set/rainstreak_raindrop/2.png", f"{r}/train_set/gt/2.png", "train", M2O),
                  pair(f"{r}/test_set/raindrop/5.png", f"{r}/test_set/gt/5.png", "test", M2O)},
        labels={f"{s}/train/rainstreak/rain-3.png": ("day", "streak", False),
                f"{s}/train/rainstreak/pie-rain-3.png": ("day", "streak", False),
                f"{s}/train/raindrop/rd-3.png": ("day", "drop", False),
                f"{s}/train/rainstreak_raindrop/rd-rain-3.png": ("day", "streak+drop", False),
                f"{r}/train_set/rainstreak/2.png": ("day", "streak", True),
                f"{r}/train_set/raindrop/2.png": ("day", "drop", True),
                f"{r}/train_set/rainstreak_raindrop/2.png": ("day", "streak+drop", True)},
    )


def _raindirection() -> Case:
    d, t = "RainDirection/rainy_direction_dataset", "RainDirection/test"
    return Case(
        "RainDirection",
        files=[f"{d}/rainy_div2k/rainy/0001.png", f"{d}/rainy_div2k/latent/0001.png",
               f"{d}/rainy_flickr2k/rainy/000001.png", f"{d}/rainy_flickr2k/latent/000001.png",
               f"{d}/rainy_flickr2k/rainy/002650.png", f"{d}/rainy_flickr2k/latent/002650.png",
               f"{t}/rainy/1.png", f"{t}/latent/1.png"],
        traps=[f"{d}/rainy_div2k/streak/0001.png", f"{d}/rainy_div2k/direction/direction.txt",
               f"{d}/rainy_div2k/direction/direction.mat", f"{t}/streak/1.png", f"{t}/direction/direction.txt"],
        expected={pair(f"{d}/rainy_div2k/rainy/0001.png", f"{d}/rainy_div2k/latent/0001.png", "train"),
                  pair(f"{d}/rainy_flickr2k/rainy/000001.png", f"{d}/rainy_flickr2k/latent/000001.png", "train"),
                  pair(f"{d}/rainy_flickr2k/rainy/002650.png", f"{d}/rainy_flickr2k/latent/002650.png", "test"),
                  pair(f"{t}/rainy/1.png", f"{t}/latent/1.png", "test")},
    )


