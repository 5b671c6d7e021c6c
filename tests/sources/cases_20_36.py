"""Layout cases of Table 1's datasets 20-36 (Real3000 ... URIR-8K)."""
from __future__ import annotations

from tests.sources.cases import LIST, M2O, UNP, Case, pair


def _real3000() -> Case:
    return Case(
        "Real3000",
        files=["real3000/1.png", "real3000/1705.png", "real3000/2004.png", "real3000/2005.png"],
        traps=["real3000/README.txt"],
        expected={pair("real3000/1.png", None, "train", UNP), pair("real3000/1705.png", None, "test", UNP),
                  pair("real3000/2004.png", None, "test", UNP), pair("real3000/2005.png", None, "train", UNP)},
        labels={"real3000/1.png": ("day", "streak", True)},
    )


def _gtrain() -> Case:
    tr, te, va = "GT-RAIN/GT-RAIN_train/Dorm_0-0", "GT-RAIN/GT-RAIN_test/Gurutto_1-2", "GT-RAIN/GT-RAIN_val/Oinari_0-0"
    return Case(
        "GT-RAIN",
        files=[f"{tr}/Dorm_0-0-R-000.png", f"{tr}/Dorm_0-0-R-001.png", f"{tr}/Dorm_0-0-C-000.png",
               f"{te}/Gurutto_1-2-R-000.png", f"{te}/Gurutto_1-2-R-001.png", f"{te}/Gurutto_1-2-C-000.png",
               f"{te}/Gurutto_1-2-C-001.png", f"{va}/Oinari_0-0-R-005.png", f"{va}/Oinari_0-0-C-000.png"],
        traps=["GT-RAIN/rain_mask_dir/0-1.png"],
        expected={pair(f"{tr}/Dorm_0-0-R-000.png", f"{tr}/Dorm_0-0-C-000.png", "train", M2O),
                  pair(f"{tr}/Dorm_0-0-R-001.png", f"{tr}/Dorm_0-0-C-000.png", "train", M2O),
                  pair(f"{te}/Gurutto_1-2-R-000.png", f"{te}/Gurutto_1-2-C-000.png", "test"),
                  pair(f"{te}/Gurutto_1-2-R-001.png", f"{te}/Gurutto_1-2-C-001.png", "test"),
                  pair(f"{va}/Oinari_0-0-R-005.png", f"{va}/Oinari_0-0-C-000.png", "val", M2O)},
        labels={f"{tr}/Dorm_0-0-R-000.png": ("day", "streak", True)},
    )


def _realrain1k() -> Case:
    r = "RealRain-1k"
    return Case(
        "RealRain-1K",
        files=[f"{r}/RealRain-1k-L/train/input/12.png", f"{r}/RealRain-1k-L/train/target/12.png",
               f"{r}/RealRain-1k-H/test/input/7.png", f"{r}/RealRain-1k-H/test/target/7.png",
               f"{r}/RealRain-1k-H/val/input/9.jpg", f"{r}/RealRain-1k-H/val/target/9.jpg"],
        traps=[f"{r}/RealRain-1k-L/train/readme.md"],
        expected={pair(f"{r}/RealRain-1k-L/train/input/12.png", f"{r}/RealRain-1k-L/train/target/12.png", "train"),
                  pair(f"{r}/RealRain-1k-H/test/input/7.png", f"{r}/RealRain-1k-H/test/target/7.png", "test"),
                  pair(f"{r}/RealRain-1k-H/val/input/9.jpg", f"{r}/RealRain-1k-H/val/target/9.jpg", "val")},
        labels={f"{r}/RealRain-1k-L/train/input/12.png": (None, "streak", True)},
    )


def _synrain() -> Case:
    s = "SynRain-13k/SynRain-13k"
    return Case(
        "SynRain-13K",
        files=[f"{s}/test/input/1.png", f"{s}/test/target/1.png", f"{s}/train/input/2.jpg", f"{s}/train/target/2.jpg"],
        traps=[f"{s}/test/readme.txt"],
        expected={pair(f"{s}/test/input/1.png", f"{s}/test/target/1.png", "test"),
                  pair(f"{s}/train/input/2.jpg", f"{s}/train/target/2.jpg", "train")},
    )


def _gtav() -> Case:
    g = "GTAV-NightRain"
    return Case(
        "GTAV-NightRain",
        files=[f"{g}/set1/Train/Rainy/0000_00.png", f"{g}/set1/Train/Rainy/0000_09.png", f"{g}/set1/Train/GT/0000.png",
               f"{g}/set2/test/rainy/0500_03.png", f"{g}/set2/test/gt/0500.png",
               f"{g}/set3/Rainy/1000_00.png", f"{g}/set3/GT/1000.png",
               f"{g}/set3/Test/Rainy/1100_00.png", f"{g}/set3/Test/GT/1100.png"],
        traps=[f"{g}/README.md"],
        expected={pair(f"{g}/set1/Train/Rainy/0000_00.png", f"{g}/set1/Train/GT/0000.png", "train", M2O),
                  pair(f"{g}/set1/Train/Rainy/0000_09.png", f"{g}/set1/Train/GT/0000.png", "train", M2O),
                  pair(f"{g}/set2/test/rainy/0500_03.png", f"{g}/set2/test/gt/0500.png", "test", M2O),
                  pair(f"{g}/set3/Rainy/1000_00.png", f"{g}/set3/GT/1000.png", "train", M2O),
                  pair(f"{g}/set3/Test/Rainy/1100_00.png", f"{g}/set3/Test/GT/1100.png", "test", M2O)},
        labels={f"{g}/set1/Train/Rainy/0000_00.png": ("night", "streak", False)},
    )


def _vrds() -> Case:
    v = "VRDS/data"
    return Case(
        "VRDS",
        files=[f"{v}/lq/000/00000000.png", f"{v}/gt/000/00000000.png", f"{v}/lq/000/00000001.png",
               f"{v}/gt/000/00000001.png", f"{v}/testlq/072/00000000.png", f"{v}/testgt/072/00000000.png"],
        traps=[f"{v}/01drop/000/00000000.png", f"{v}/drop/000/00000000.png", f"{v}/mstreak/000/00000000.png"],
        expected={pair(f"{v}/lq/000/00000000.png", f"{v}/gt/000/00000000.png", "train"),
                  pair(f"{v}/lq/000/00000001.png", f"{v}/gt/000/00000001.png", "train"),
                  pair(f"{v}/testlq/072/00000000.png", f"{v}/testgt/072/00000000.png", "test")},
        labels={f"{v}/lq/000/00000000.png": ("day", "streak+drop", False)},
    )


def _lwdds() -> Case:
    w = "LWDDS"
    return Case(
        "LWDDS",
        files=[f"{w}/train_vid/rainy_vid/v01/00001.png", f"{w}/train_vid/rainy_vid_blur/v01/00001.png",
               f"{w}/train_vid/clean_vid/v01/00001.png", f"{w}/syn/rainy_vid/t01/00001.png",
               f"{w}/syn/clean_vid/t01/00001.png", f"{w}/github/test/real/r01/00001.png"],
        traps=[f"{w}/train_vid/rainy_mask/v01/00001.png", f"{w}/train_vid/rainy_mask_blur/v01/00001.png"],
        expected={pair(f"{w}/train_vid/rainy_vid/v01/00001.png", f"{w}/train_vid/clean_vid/v01/00001.png", "train", M2O),
                  pair(f"{w}/train_vid/rainy_vid_blur/v01/00001.png", f"{w}/train_vid/clean_vid/v01/00001.png",
                       "train", M2O),
                  pair(f"{w}/syn/rainy_vid/t01/00001.png", f"{w}/syn/clean_vid/t01/00001.png", "test", M2O),
                  pair(f"{w}/github/test/real/r01/00001.png", None, "test", UNP)},
        labels={f"{w}/github/test/real/r01/00001.png": ("day", "drop", True)},
    )


def _lhp() -> Case:
    h = "LHP-Rain"
    return Case(
        "LHP-Rain",
        files=[f"{h}/train/input/seq001/0001.png", f"{h}/train/gt/seq001/0001.png", f"{h}/test/input/0002.png",
               f"{h}/test/target/0002.png", f"{h}/val/input/0003.png", f"{h}/val/gt/0003.png"],
        traps=[f"{h}/train/input/seq001/0004.jpg", f"{h}/train/gt/seq001/0004.jpg"],
        expected={pair(f"{h}/train/input/seq001/0001.png", f"{h}/train/gt/seq001/0001.png", "train"),
                  pair(f"{h}/test/input/0002.png", f"{h}/test/target/0002.png", "test"),
                  pair(f"{h}/val/input/0003.png", f"{h}/val/gt/0003.png", "val")},
    )


def _uav() -> Case:
    u = "UAV-Rain1k"
    return Case(
        "UAV-Rain1k",
        files=[f"{u}/train/input/1.png", f"{u}/train/gt/1.png", f"{u}/test/input/2.png", f"{u}/test/target/2.png",
               f"{u}/samples/input/0.png", f"{u}/samples/gt/0.png"],
        traps=[f"{u}/README.md"],
        expected={pair(f"{u}/train/input/1.png", f"{u}/train/gt/1.png", "train"),
                  pair(f"{u}/test/input/2.png", f"{u}/test/target/2.png", "test"),
                  pair(f"{u}/samples/input/0.png", f"{u}/samples/gt/0.png", "train")},
        labels={f"{u}/train/input/1.png": ("day", "drop", False)},
    )


def _roadscene() -> Case:
    r = "RoadScene-rain/dataset/RoadScene-rain"
    return Case(
        "RoadScene-rain",
        files=[f"{r}/train/Vis/input/000.jpg", f"{r}/train/Vis/target/000.jpg", f"{r}/test/Vis/input/001.jpg",
               f"{r}/test/Vis/target/001.jpg"],
        traps=[f"{r}/train/Inf/input/000.jpg", f"{r}/test/Inf/input/001.jpg", f"{r}/train/Inf/input/_init_.py"],
        expected={pair(f"{r}/train/Vis/input/000.jpg", f"{r}/train/Vis/target/000.jpg", "train"),
                  pair(f"{r}/test/Vis/input/001.jpg", f"{r}/test/Vis/target/001.jpg", "test")},
        labels={f"{r}/train/Vis/input/000.jpg": ("night", "drop", False)},
    )


def _raindropclarity() -> Case:
    d, n = "RaindropClarity/DayRainDrop_Train", "RaindropClarity/NightRainDrop_Test"
    return Case(
        "RaindropClarity",
        files=[f"{d}/Drop/00001/00001.png", f"{d}/Clear/00001/00001.png", f"{d}/Drop/00001/00002.png",
               f"{d}/Clear/00001/00002.png", f"{n}/Drop/00003/00001.png", f"{n}/Clear/00003/00001.png"],
        traps=[f"{d}/Blur/00001/00001.png", f"{n}/Blur/00003/00001.png"],
        expected={pair(f"{d}/Drop/00001/00001.png", f"{d}/Clear/00001/00001.png", "train"),
                  pair(f"{d}/Drop/00001/00002.png", f"{d}/Clear/00001/00002.png", "train"),
                  pair(f"{n}/Drop/00003/00001.png", f"{n}/Clear/00003/00001.png", "test")},
        labels={f"{d}/Drop/00001/00001.png": ("day", "drop", False),
                f"{n}/Drop/00003/00001.png": ("night", "drop", False)},
    )


def _hqnightrain() -> Case:
    h, o = "HQ-NightRain", "HQNightRain/dataset"
    rs, rd, sd = "0a579286-882afcc7.jpg", "b1ebfc3c-740ec84a.jpg", "b1d10d08-743fd86c.jpg"
    one = "0ab48bce-b22afc10.jpg"
    return Case(
        "HQ-NightRain",
        files=[f"{h}/HQNightRain-RS/train/input/{rs}", f"{h}/HQNightRain-RS/train/target/{rs}",
               f"{h}/HQNightRain-RD/validation/input/{rd}", f"{h}/HQNightRain-RD/validation/target/{rd}",
               f"{h}/HQNightRain-SD/test/input/{sd}", f"{h}/HQNightRain-SD/test/target/{sd}",
               f"{o}/train/input/{one}", f"{o}/train/target/{one}"],
        traps=[f"{h}/README.txt"],
        expected={pair(f"{h}/HQNightRain-RS/train/input/{rs}", f"{h}/HQNightRain-RS/train/target/{rs}", "train"),
                  pair(f"{h}/HQNightRain-RD/validation/input/{rd}", f"{h}/HQNightRain-RD/validation/target/{rd}", "val"),
                  pair(f"{h}/HQNightRain-SD/test/input/{sd}", f"{h}/HQNightRain-SD/test/target/{sd}", "test"),
                  pair(f"{o}/train/input/{one}", f"{o}/train/target/{one}", "train")},
        labels={f"{h}/HQNightRain-RS/train/input/{rs}": ("night", "streak", False),
                f"{h}/HQNightRain-RD/validation/input/{rd}": ("night", "drop", False),
                f"{h}/HQNightRain-SD/test/input/{sd}": ("night", "streak+drop", False),
                f"{o}/train/input/{one}": ("night", None, False)},
    )


def _weatherbench() -> Case:
    w, x = "WeatherBench", "WeatherBench-Rain"
    return Case(
        "WeatherBench-Rain",
        files=[f"{w}/rain/test/input/1.jpg", f"{w}/rain/test/target/1.jpg", f"{w}/train/Rain/input/2.jpg",
               f"{w}/train/Rain/target/2.jpg", f"{x}/test/input/5.jpg", f"{x}/test/target/5.jpg"],
        traps=[f"{w}/haze/test/input/1.jpg", f"{w}/haze/test/target/1.jpg", f"{w}/train/snow/input/3.jpg",
               f"{w}/train/snow/target/3.jpg"],
        expected={pair(f"{w}/rain/test/input/1.jpg", f"{w}/rain/test/target/1.jpg", "test"),
                  pair(f"{w}/train/Rain/input/2.jpg", f"{w}/train/Rain/target/2.jpg", "train"),
                  pair(f"{x}/test/input/5.jpg", f"{x}/test/target/5.jpg", "test")},
        labels={f"{w}/rain/test/input/1.jpg": (None, "streak", True)},
    )


def _foundir() -> Case:
    f, t = "FoundIR/dataset", "FoundIR/MillionIRData/Train"
    test_meta = "".join(f"{c}/GT/{i}, {c}/LQ/{i}\n" for c, i in [
        ("01Blur", "0001.png"), ("10Rain", "0801.png"), ("11Raindrop", "0901.png"), ("12NightRain", "1001.png"),
        ("13Rain_Haze", "1051.jpg")])
    train_meta = "Rain/GT/a.png, Rain/LQ/a.png\nNoise/GT/b.png, Noise/LQ/b.png\nRaindrop/GT/c.png, Raindrop/LQ/c.png\n"
    return Case(
        "FoundIR-Rain",
        files=[f"{f}/01Blur/GT/0001.png", f"{f}/10Rain/GT/0801.png", f"{f}/10Rain/LQ/0801.png",
               f"{f}/11Raindrop/GT/0901.png", f"{f}/11Raindrop/LQ/0901.png", f"{f}/12NightRain/GT/1001.png",
               f"{f}/12NightRain/LQ/1001.png", f"{f}/13Rain_Haze/GT/1051.jpg", f"{f}/13Rain_Haze/LQ/1051.jpg",
               f"{t}/Rain/GT/a.png", f"{t}/Rain/LQ/a.png", f"{t}/Noise/GT/b.png", f"{t}/Raindrop/GT/c.png",
               f"{t}/Raindrop/LQ/c.png"],
        texts={"FoundIR/Testset_meta_info.txt": test_meta, "FoundIR/MillionIRData_train_meta_info.txt": train_meta},
        traps=[f"{f}/01Blur/LQ/0001.png", f"{t}/Noise/LQ/b.png", "FoundIR/Testset_meta_info.txt",
               "FoundIR/MillionIRData_train_meta_info.txt"],
        expected={pair(f"{f}/10Rain/LQ/0801.png", f"{f}/10Rain/GT/0801.png", "test"),
                  pair(f"{f}/11Raindrop/LQ/0901.png", f"{f}/11Raindrop/GT/0901.png", "test"),
                  pair(f"{f}/12NightRain/LQ/1001.png", f"{f}/12NightRain/GT/1001.png", "test"),
                  pair(f"{f}/13Rain_Haze/LQ/1051.jpg", f"{f}/13Rain_Haze/GT/1051.jpg", "test"),
                  pair(f"{t}/Rain/LQ/a.png", f"{t}/Rain/GT/a.png", "train", LIST),
                  pair(f"{t}/Raindrop/LQ/c.png", f"{t}/Raindrop/GT/c.png", "train", LIST)},
        labels={f"{f}/10Rain/LQ/0801.png": ("day", "streak", None),
                f"{f}/11Raindrop/LQ/0901.png": ("day", "drop", None),
                f"{f}/12NightRain/LQ/1001.png": ("night", "streak", None),
                f"{f}/13Rain_Haze/LQ/1051.jpg": ("day", "streak", None),
                f"{t}/Rain/LQ/a.png": ("day", None, None)},
    )


def _gendeg() -> Case:
    g = "GenDS"
    header = ("image_path,target_path,dataset,degradation,category,degradation_sub_type,split,mu,sigma,"
              "random_sampled,sampled_dataset\n")
    rows = ["images/rain_0001.png,targets/0001.png,Rain13K,Rain,syn,rain,train,0.1,0.2,False,Rain13K",
            "images/drop_0002.png,targets/0002.png,Raindrop,Raindrop,real,raindrop,test,0.1,0.2,False,Raindrop",
            "images/haze_0003.png,targets/0003.png,RealRain-1k,Rain,real,haze,train,0.1,0.2,False,RealRain-1k",
            "images/snow_0004.png,targets/0004.png,CSD,Snow,syn,snow,train,0.1,0.2,False,CSD"]
    return Case(
        "GenDeg-Rain",
        files=[f"{g}/images/rain_0001.png", f"{g}/images/drop_0002.png", *[f"{g}/targets/000{i}.png" for i in range(1, 5)]],
        texts={f"{g}/metadata.csv": header + "\n".join(rows) + "\n"},
        traps=[f"{g}/images/haze_0003.png", f"{g}/images/snow_0004.png", f"{g}/metadata.csv"],
        expected={pair(f"{g}/images/rain_0001.png", f"{g}/targets/0001.png", "train", LIST),
                  pair(f"{g}/images/drop_0002.png", f"{g}/targets/0002.png", "test", LIST)},
    )


def _cdd11() -> Case:
    tr, te = "CDD-11/CDD-11_train", "CDD-11/CDD-11_test/CDD-11_test"
    return Case(
        "CDD-11-Rain",
        files=[f"{tr}/rain/000001.png", f"{tr}/haze_rain/000001.png", f"{tr}/low_rain/000001.png",
               f"{tr}/low_haze_rain/000001.png", f"{tr}/clear/000001.png", f"{te}/rain/000002.png",
               f"{te}/clear/000002.png"],
        traps=[f"{tr}/haze/000001.png", f"{tr}/low/000001.png", f"{tr}/snow/000001.png",
               f"{tr}/low_haze_snow/000001.png", f"{tr}/haze_snow/000001.png"],
        expected={pair(f"{tr}/rain/000001.png", f"{tr}/clear/000001.png", "train", M2O),
                  pair(f"{tr}/haze_rain/000001.png", f"{tr}/clear/000001.png", "train", M2O),
                  pair(f"{tr}/low_rain/000001.png", f"{tr}/clear/000001.png", "train", M2O),
                  pair(f"{tr}/low_haze_rain/000001.png", f"{tr}/clear/000001.png", "train", M2O),
                  pair(f"{te}/rain/000002.png", f"{te}/clear/000002.png", "test", M2O)},
        labels={f"{tr}/rain/000001.png": ("day", "streak", False),
                f"{tr}/low_rain/000001.png": ("night", "streak", False),
                f"{tr}/low_haze_rain/000001.png": ("night", "streak", False)},
    )


def _urir() -> Case:
    u = "URIR-8K"
    return Case(
        "URIR-8K",
        files=[f"{u}/RS/train/input/a.png", f"{u}/RS/train/target/a.png", f"{u}/URIR-8K_RD/test/rainy/b.png",
               f"{u}/URIR-8K_RD/test/gt/b.png", f"{u}/train/NR/input/c.png", f"{u}/train/NR/target/c.png",
               f"{u}/RA/test/input/d.png", f"{u}/RA/test/target/d.png"],
        traps=[f"{u}/RS/train/labels/a.txt", f"{u}/RS/train/input/a.json"],
        expected={pair(f"{u}/RS/train/input/a.png", f"{u}/RS/train/target/a.png", "train"),
                  pair(f"{u}/URIR-8K_RD/test/rainy/b.png", f"{u}/URIR-8K_RD/test/gt/b.png", "test"),
                  pair(f"{u}/train/NR/input/c.png", f"{u}/train/NR/target/c.png", "train"),
                  pair(f"{u}/RA/test/input/d.png", f"{u}/RA/test/target/d.png", "test")},
        labels={f"{u}/RS/train/input/a.png": ("day", "streak", None),
                f"{u}/URIR-8K_RD/test/rainy/b.png": ("day", "drop", None),
                f"{u}/train/NR/input/c.png": ("night", None, None),
                f"{u}/RA/test/input/d.png": ("day", None, None)},
    )


